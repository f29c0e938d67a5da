"""The built-in simulated provider: deterministic answers with no network and no key.

It lets ``make run`` and ``detour demo`` work out of the box and says in every
answer that it is simulated. It behaves like a tool-using model: asked with
tools, it calls the one the user names (or the first, when a tool is required);
given tool results, it reports them; otherwise it answers in text. Streams come
word by word.

Its config may script faults (``[[providers.ID.faults]]``): bursts of 429 with a
retry-after lasting to the end of the burst, stalls that send nothing until the
first-byte timeout, and outages that refuse the connection. They fail exactly as
a real provider's would, so the chain fails over, cools down and opens circuits.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from daemon.config import ProviderConfig
from daemon.ir import (
    ApiError,
    ArgumentsDelta,
    AssistantPart,
    Message,
    PartEnd,
    PartStart,
    Request,
    Response,
    StreamEnd,
    StreamEvent,
    StreamStart,
    TextDelta,
    TextPart,
    Tool,
    ToolCallPart,
    ToolResultPart,
    Usage,
)
from daemon.ir.errors import CONNECT_REFUSED, TIMEOUT_FIRST_BYTE
from daemon.ir.tokens import request_tokens, text_tokens
from daemon.providers.base import Provider

PREFIX = "[simulated] "


class SimProvider(Provider):
    def __init__(self, config: ProviderConfig, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(config)
        self._clock = clock
        self._started = clock()

    @property
    def usable(self) -> bool:
        return True

    async def stream(self, req: Request, model: str) -> AsyncIterator[StreamEvent]:
        await self._arrive()
        resp = answer(req, model)
        yield StreamStart(resp.id, resp.model, Usage(input_tokens=resp.usage.input_tokens))
        for i, part in enumerate(resp.parts):
            if isinstance(part, TextPart):
                yield PartStart(i, TextPart(""))
                for word in _words(part.text):
                    yield TextDelta(i, word)
            elif isinstance(part, ToolCallPart):
                yield PartStart(i, ToolCallPart(part.id, part.name, ""))
                yield ArgumentsDelta(i, part.arguments)
            yield PartEnd(i)
        yield StreamEnd(resp.finish, None, resp.usage)

    async def _arrive(self) -> None:
        """What happens before the first byte: the configured latency, or a scripted fault."""
        if self.config.latency_ms:
            await asyncio.sleep(self.config.latency_ms / 1000)
        elapsed = self._clock() - self._started
        for fault in self.config.faults:
            left = fault.active(elapsed)
            if not left:
                continue
            match fault.kind:
                case "rate_limit":
                    raise ApiError(
                        429,
                        "rate_limit",
                        f"{self.id}: simulated rate limit burst",
                        retry_after_s=round(left, 1),
                    )
                case "stall":
                    wait = self.config.timeout_first_byte_s
                    await asyncio.sleep(wait)
                    raise ApiError(
                        504, "timeout", f"{self.id}: simulated stall, no content within {wait:g}s",
                        cause=TIMEOUT_FIRST_BYTE,
                    )  # fmt: skip
                case "outage":
                    raise ApiError(
                        502, "server_error", f"{self.id}: simulated outage, connection refused",
                        cause=CONNECT_REFUSED,
                    )  # fmt: skip
                case _:
                    raise ValueError(f"unknown fault kind {fault.kind!r}")


def answer(req: Request, model: str) -> Response:
    seed = hashlib.blake2b(repr([m.parts for m in req.messages]).encode(), digest_size=8).hexdigest()
    parts: list[AssistantPart]
    last = req.messages[-1] if req.messages else Message("user", [])
    results = [p for p in last.parts if isinstance(p, ToolResultPart)]
    tool = _tool_to_call(req, _user_text(last))
    rf = req.response_format
    if results:
        parts = [TextPart(PREFIX + _report(results))]
    elif rf is not None and rf.wants_json and tool is None:
        # Asked for JSON: plausible values for the schema, and nothing around them to spoil it.
        params = rf.schema if rf.schema is not None else {"type": "object"}
        parts = [TextPart(json.dumps(_arguments(Tool("answer", parameters=params), _user_text(last))))]
    elif tool is not None:
        args = json.dumps(_arguments(tool, _user_text(last)))
        parts = [
            TextPart(PREFIX + f"Calling {tool.name}."),
            ToolCallPart(f"call_sim_{seed}", tool.name, args),
        ]
    else:
        said = _user_text(last).strip() or "(nothing)"
        parts = [
            TextPart(PREFIX + f"detour is serving this from its simulated provider. You said: {said[:200]}")
        ]
    out = sum(text_tokens(p.text) if isinstance(p, TextPart) else _call_tokens(p) for p in parts)
    return Response(
        id=f"sim-{seed}",
        model=model,
        parts=parts,
        finish="tool_use" if any(isinstance(p, ToolCallPart) for p in parts) else "end",
        usage=Usage(input_tokens=request_tokens(req), output_tokens=max(out, 1)),
    )


def _call_tokens(part: AssistantPart) -> int:
    return text_tokens(part.arguments) if isinstance(part, ToolCallPart) else 0


def _user_text(msg: Message) -> str:
    return " ".join(p.text for p in msg.parts if isinstance(p, TextPart))


def _tool_to_call(req: Request, text: str) -> Tool | None:
    if not req.tools or (req.tool_choice and req.tool_choice.mode == "none"):
        return None
    choice = req.tool_choice
    if choice and choice.mode == "tool":
        return next((t for t in req.tools if t.name == choice.name), req.tools[0])
    lowered = text.lower()
    named = next((t for t in req.tools if t.name.lower() in lowered), None)
    if named is None and choice and choice.mode == "required":
        return req.tools[0]
    return named


def _arguments(tool: Tool, text: str) -> dict[str, Any]:
    """Plausible values for the required properties, derived from their schema."""
    schema = tool.parameters or {}
    props: dict[str, Any] = schema.get("properties") or {}
    out: dict[str, Any] = {}
    for name in schema.get("required") or list(props)[:1]:
        out[name] = _value(name, props.get(name) or {}, text)
    return out


def _value(name: str, schema: dict[str, Any], text: str) -> Any:
    if "enum" in schema and schema["enum"]:
        return schema["enum"][0]
    kind = schema.get("type", "string")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    match kind:
        case "integer":
            return 1
        case "number":
            return 1.0
        case "boolean":
            return True
        case "array":
            return []
        case "object":
            return {}
    lname = name.lower()
    if "path" in lname or "file" in lname:
        return "README.md"
    if "command" in lname or lname == "cmd":
        return "ls"
    return text[:80] or name


def _report(results: list[ToolResultPart]) -> str:
    lines = []
    for r in results:
        body = " ".join(c.text for c in r.content if isinstance(c, TextPart))
        state = "failed" if r.is_error else "returned"
        lines.append(f"The tool call {r.call_id} {state}: {body[:200]}")
    return " ".join(lines)


def _words(text: str) -> list[str]:
    words = text.split(" ")
    return [w + " " for w in words[:-1]] + [words[-1]]
