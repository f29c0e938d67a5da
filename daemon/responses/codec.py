"""IR messages and answers <-> JSON, for the state store.

Explicit both ways (not ``dataclasses.asdict``): the stored shape is a file
format that outlives a release, so a field added to the IR later must not
change what old rows mean.
"""

from __future__ import annotations

from typing import Any

import orjson

from daemon.ir import (
    ImagePart,
    Message,
    Opaque,
    Part,
    TextPart,
    ThinkingPart,
    ToolCallPart,
    ToolResultPart,
    WebSearchPart,
    WebSource,
)


def _opaque(o: Opaque | None) -> list[str | None] | None:
    return None if o is None else [o.format, o.blob, o.provider]


def _from_opaque(raw: Any) -> Opaque | None:
    return None if raw is None else Opaque(raw[0], raw[1], raw[2] if len(raw) > 2 else None)


def part_to_json(p: Part) -> dict[str, Any]:
    match p:
        case TextPart():
            return {"k": "text", "text": p.text, "op": _opaque(p.opaque)}
        case ImagePart():
            return {"k": "image", "mt": p.media_type, "data": p.data, "url": p.url, "detail": p.detail}
        case ToolCallPart():
            return {"k": "call", "id": p.id, "name": p.name, "args": p.arguments, "op": _opaque(p.opaque)}
        case ToolResultPart():
            content = [part_to_json(c) for c in p.content]
            return {"k": "result", "id": p.call_id, "content": content, "error": p.is_error, "name": p.name}
        case ThinkingPart():
            return {"k": "thinking", "text": p.text, "op": _opaque(p.opaque), "redacted": p.redacted}
        case WebSearchPart():
            sources = [[s.url, s.title] for s in p.sources]
            return {
                "k": "search",
                "id": p.id,
                "q": p.query,
                "src": sources,
                "st": p.status,
                "op": _opaque(p.opaque),
            }


def part_from_json(raw: dict[str, Any]) -> Part:
    match raw["k"]:
        case "text":
            return TextPart(raw["text"], opaque=_from_opaque(raw["op"]))
        case "image":
            return ImagePart(raw["mt"], raw["data"], raw["url"], raw["detail"])
        case "call":
            return ToolCallPart(raw["id"], raw["name"], raw["args"], opaque=_from_opaque(raw["op"]))
        case "result":
            content = [part_from_json(c) for c in raw["content"]]
            media = [c for c in content if isinstance(c, TextPart | ImagePart)]
            return ToolResultPart(raw["id"], media, is_error=raw["error"], name=raw["name"])
        case "thinking":
            return ThinkingPart(raw["text"], opaque=_from_opaque(raw["op"]), redacted=raw["redacted"])
        case "search":
            sources = [WebSource(url, title) for url, title in raw["src"]]
            return WebSearchPart(raw["id"], raw["q"], sources, raw["st"], opaque=_from_opaque(raw["op"]))
        case kind:
            raise ValueError(f"unknown stored part kind {kind!r}")


def messages_to_json(messages: list[Message]) -> bytes:
    return orjson.dumps([{"role": m.role, "parts": [part_to_json(p) for p in m.parts]} for m in messages])


def messages_from_json(raw: bytes) -> list[Message]:
    return [Message(m["role"], [part_from_json(p) for p in m["parts"]]) for m in orjson.loads(raw)]
