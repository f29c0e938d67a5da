"""IR messages -> Gemini ``contents`` that hold Gemini's turn rules.

- adjacent same-role messages merge, and contents never start with a model turn (a one-character user
  text goes first);
- a model turn's function calls are answered in the next user content by ``functionResponse`` parts in
  the calls' order and number: results are matched by call id, then by name, and a call left unanswered
  gets an error response rather than a request Gemini refuses; images from tool results follow them;
- Gemini 3 wants its thought signature on the first function call of each model turn of the current
  turn: its own go back on the same part, foreign history gets the documented placeholder.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, assert_never

from daemon import ir
from daemon.formats.gemini_schema import Renames
from daemon.formats.gemini_stream import SKIP_SIGNATURE, args_object, own_signature
from daemon.formats.ids import made_up_id
from daemon.formats.media import sniff_mime, split_data_url

# The text of a user turn Gemini needs where the IR has none: as short as can be.
_FILLER_TEXT = "."
_EXTENSIONS = {
    "png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg", "gif": "image/gif", "webp": "image/webp",
    "heic": "image/heic", "heif": "image/heif",
}  # fmt: skip


def build_contents(req: ir.Request, renames: Renames) -> list[dict[str, Any]]:
    return _Contents(req, renames).build()


@dataclass(slots=True)
class _Call:
    id: str
    name: str  # as sent: the wire name
    part: dict[str, Any]


@dataclass(slots=True)
class _Turn:
    role: str
    parts: list[dict[str, Any]] = field(default_factory=list)
    calls: list[_Call] = field(default_factory=list)
    results: list[ir.ToolResultPart] = field(default_factory=list)


class _Contents:
    __slots__ = ("_req", "_renames", "_keep_ids")

    def __init__(self, req: ir.Request, renames: Renames) -> None:
        self._req = req
        self._renames = renames
        # Call ids go back only to a Gemini client's own upstream, never ones detour made up.
        self._keep_ids = req.source_format == "gemini"

    def build(self) -> list[dict[str, Any]]:
        turns: list[_Turn] = []
        for mi, m in enumerate(self._req.messages):
            turn = self._message(mi, m) if m.role != "system" else None
            if turn is None:
                continue
            if turns and turns[-1].role == turn.role:
                last = turns[-1]
                last.parts += turn.parts
                last.calls += turn.calls
                last.results += turn.results
            else:
                turns.append(turn)
        contents: list[dict[str, Any]] = []
        calls: list[_Call] = []
        current = 0  # where the current turn starts: after the last user turn of the user's own words
        for ti, turn in enumerate(turns):
            parts = turn.parts
            if turn.role == "user" and turn.parts:
                current = ti + 1
            if turn.role == "user" and (calls or turn.results):
                parts = self._answers(calls, turn.results, ti) + parts
            calls = turn.calls if turn.role == "model" else []
            contents.append({"role": turn.role, "parts": parts})
        _mark_current_turn(contents[current:])
        if not contents or contents[0]["role"] == "model":
            contents.insert(0, {"role": "user", "parts": [{"text": _FILLER_TEXT}]})
        return contents

    def _message(self, mi: int, m: ir.Message) -> _Turn | None:
        turn = _Turn("model" if m.role == "assistant" else "user")
        for pi, part in enumerate(m.parts):
            path = f"messages[{mi}].parts[{pi}]"
            match part:
                case ir.TextPart():
                    sig = own_signature(part.opaque)
                    if part.text or sig is not None:
                        turn.parts.append(_signed({"text": part.text}, sig))
                case ir.ImagePart():
                    turn.parts.append(_image_out(part, path))
                case ir.ThinkingPart():
                    # Only Gemini's own thoughts mean anything to it, and only with their signature.
                    sig = own_signature(part.opaque)
                    if sig is not None and part.redacted is None:
                        turn.parts.append({"text": part.text, "thought": True, "thoughtSignature": sig})
                case ir.ToolCallPart():
                    if turn.role != "model":
                        raise ir.invalid(f"{path}: a tool call belongs in an assistant message")
                    turn.calls.append(self._call(part))
                    turn.parts.append(turn.calls[-1].part)
                case ir.WebSearchPart():
                    pass  # Gemini takes no grounding back; the answer's text, kept, says what it found
                case ir.ToolResultPart():
                    if turn.role != "user":
                        raise ir.invalid(f"{path}: a tool result belongs in a user message")
                    turn.results.append(part)
                case _:
                    assert_never(part)
        return turn if turn.parts or turn.results else None

    def _call(self, part: ir.ToolCallPart) -> _Call:
        wire = self._renames.wire_name(part.name)
        fc: dict[str, Any] = {
            "name": wire,
            "args": self._renames.args_out(part.name, args_object(part.arguments)),
        }
        if self._keep_ids and not made_up_id(part.id):
            fc["id"] = part.id
        return _Call(part.id, wire, _signed({"functionCall": fc}, own_signature(part.opaque)))

    def _answers(self, calls: list[_Call], results: list[ir.ToolResultPart], ti: int) -> list[dict[str, Any]]:
        """One functionResponse per call, in the calls' order, then the results' images."""
        by_id: dict[str, ir.ToolResultPart] = {}
        rest: list[ir.ToolResultPart] = []
        wanted = {c.id for c in calls}
        for r in results:
            if r.call_id in wanted and r.call_id not in by_id:
                by_id[r.call_id] = r
            else:
                rest.append(r)
        responses: list[dict[str, Any]] = []
        images: list[dict[str, Any]] = []
        for call in calls:
            result = by_id.get(call.id)
            if result is None:
                # Ids differ across some translations; the name still tells which call a result answers.
                result = next(
                    (r for r in rest if r.name and self._renames.wire_name(r.name) == call.name), None
                )
                if result is not None:
                    rest.remove(result)
            responses.append(self._response(call, result))
            if result is not None:
                images += [_image_out(p, f"tool result {result.call_id!r}") for p in result.content
                           if isinstance(p, ir.ImagePart)]  # fmt: skip
        if rest:
            raise ir.invalid(
                f"tool result for call {rest[0].call_id!r} answers no tool call of the assistant message "
                f"before it (Gemini contents[{ti}])"
            )
        return responses + images

    def _response(self, call: _Call, result: ir.ToolResultPart | None) -> dict[str, Any]:
        if result is None:
            response = {"error": "no result was returned for this call"}
        else:
            text = "\n".join(p.text for p in result.content if isinstance(p, ir.TextPart))
            response = {"error": text} if result.is_error else {"output": text}
        fr: dict[str, Any] = {"name": call.name, "response": response}
        if self._keep_ids and not made_up_id(call.id):
            fr["id"] = call.id
        return {"functionResponse": fr}


def _mark_current_turn(turn: list[dict[str, Any]]) -> None:
    """Gemini 3 checks signatures since the last user content with more than function responses;
    images that came with tool results do not count as more, to be safe. Each model turn there whose
    first call carries no signature gets the documented placeholder."""
    for content in turn:
        first = next((p for p in content["parts"] if "functionCall" in p), None)
        if content["role"] == "model" and first is not None and "thoughtSignature" not in first:
            first["thoughtSignature"] = SKIP_SIGNATURE


def _signed(part: dict[str, Any], sig: str | None) -> dict[str, Any]:
    if sig is not None:
        part["thoughtSignature"] = sig
    return part


def _image_out(part: ir.ImagePart, path: str) -> dict[str, Any]:
    if part.data is not None:
        mime = part.media_type or sniff_mime(part.data) or "image/jpeg"
        return {"inlineData": {"mimeType": mime, "data": part.data}}
    if part.url is None:
        raise ir.invalid(f"{path}: an image needs data or a url")
    inline = split_data_url(part.url)
    if inline is not None:
        return {"inlineData": {"mimeType": inline[0], "data": inline[1]}}
    # Gemini fetches only URIs it knows (uploaded files, some public URLs): a documented gap.
    return {"fileData": {"mimeType": part.media_type or guess_mime(part.url), "fileUri": part.url}}


def guess_mime(url: str) -> str:
    ext = url.split("?", 1)[0].rsplit(".", 1)[-1].lower()
    return _EXTENSIONS.get(ext, "image/jpeg")
