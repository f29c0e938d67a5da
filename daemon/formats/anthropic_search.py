"""Anthropic's server web search, as detour's ``WebSearchPart``.

Anthropic runs the search itself and answers with two blocks: ``server_tool_use``
(``name: "web_search"``, the query in ``input``, streamed as ``input_json_delta``)
then ``web_search_tool_result`` (the pages, each with ``encrypted_content``, or a
``web_search_tool_result_error``). The two become one part, made when the result
arrives; both blocks ride verbatim as its opaque payload, because Anthropic wants
them back unchanged in later turns (and only Anthropic may get them).
"""

from __future__ import annotations

from typing import Any, Final

import orjson

from daemon.ir import Opaque, WebSearchPart, WebSource

ORIGIN: Final = "anthropic"
TOOL: Final = "web_search"


def is_search_use(block: dict[str, Any]) -> bool:
    return block.get("type") == "server_tool_use" and block.get("name") == TOOL


def _sources(content: Any) -> list[WebSource]:
    if not isinstance(content, list):
        return []
    return [
        WebSource(str(r.get("url", "")), r["title"] if isinstance(r.get("title"), str) else None)
        for r in content
        if isinstance(r, dict) and r.get("type") == "web_search_result"
    ]


def search_part(use: dict[str, Any], result: dict[str, Any]) -> WebSearchPart:
    """The part for a ``server_tool_use`` block (its input whole) and the result that answered it."""
    args = use.get("input")
    query = args.get("query") if isinstance(args, dict) else None
    content = result.get("content")
    failed = isinstance(content, dict)  # {"type": "web_search_tool_result_error", "error_code": ...}
    blob = orjson.dumps([use, result]).decode()
    return WebSearchPart(
        str(use.get("id", "")),
        query if isinstance(query, str) else "",
        _sources(content),
        "failed" if failed else "completed",
        opaque=Opaque(ORIGIN, blob),
    )


def blocks(part: WebSearchPart) -> list[dict[str, Any]]:
    """Anthropic's own two blocks, verbatim; none for a search another provider ran,
    whose findings reach Anthropic only as the answer's text."""
    if part.opaque is None or part.opaque.format != ORIGIN:
        return []
    try:
        value = orjson.loads(part.opaque.blob)
    except orjson.JSONDecodeError:
        return []
    if not isinstance(value, list) or not all(isinstance(b, dict) for b in value):
        return []
    return value


class PendingSearch:
    """Holds a ``server_tool_use`` block until its result arrives (in a stream, its
    query comes in ``input_json_delta`` fragments meanwhile)."""

    __slots__ = ("_use", "_json")

    def __init__(self) -> None:
        self._use: dict[str, Any] | None = None
        self._json = ""

    def start(self, block: dict[str, Any]) -> None:
        self._use, self._json = dict(block), ""

    def fragment(self, text: str) -> None:
        self._json += text

    def finish(self, result: dict[str, Any]) -> WebSearchPart | None:
        """The part, when ``result`` answers the held block; None for a stray result."""
        use, self._use = self._use, None
        if use is None or result.get("tool_use_id") != use.get("id"):
            return None
        if self._json.strip():
            try:
                use["input"] = orjson.loads(self._json)
            except orjson.JSONDecodeError:
                use["input"] = {}
        elif not isinstance(use.get("input"), dict):
            use["input"] = {}
        return search_part(use, result)
