"""Structured answers: how a JSON request is sent to each target, and whether the answer holds.

Sending (``plan``, called by ``routing.chain`` per target with its ``Profile``): native
where the target takes what was asked (the profile's ``json_modes``): OpenAI both modes,
Gemini both (its schema dialect is ``gemini_schema.to_openapi``), Anthropic a schema on
models with structured outputs, unless it holds a map (an open ``additionalProperties``),
which Anthropic's closed objects cannot say.
Elsewhere (Anthropic's JSON-object mode and older models, OpenAI-compatible servers,
which mostly lack ``json_schema``) the schema becomes the parameters of a forced tool,
whose arguments are unwrapped back into plain text on the way out, streamed or not.

Checking (``guard`` around the stream, called by ``routing.chain``; every answer is
read as a stream): the answer's text is parsed and validated against the schema the
client gave (jsonschema, one compiled validator per distinct schema, with the fast
check of ``schema_check`` in front for answers that are valid). An answer that
does not hold fails the attempt as ``invalid_json`` (``routing.failures``), with its
usage, since the provider charged for it.

Streams are not held back for the check. Deltas go to the client as they come: agents
and SDK stream helpers show partial JSON as it grows, holding a long answer whole would
put its full generation time before the first byte (and under the first-byte timeout),
and a well-formed error event at the end tells any SDK the answer is void. The cost is
that a stream found invalid after content went out cannot fail over; one that is found
invalid before any content (an empty answer) still does.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import AsyncIterator
from typing import Any, Final

import orjson
from jsonschema import exceptions as schema_errors
from jsonschema import validators

from daemon.formats.profile import Profile
from daemon.formats.schema_dialects import anthropic_takes
from daemon.ir import (
    ApiError,
    ArgumentsDelta,
    PartEnd,
    PartStart,
    Request,
    ResponseFormat,
    SignatureDelta,
    StreamEnd,
    StreamEvent,
    TextDelta,
    TextPart,
    Tool,
    ToolCallPart,
    ToolChoice,
    Usage,
    invalid,
)
from daemon.ir.stream import fresh
from daemon.routing.failures import INVALID_JSON
from daemon.routing.schema_check import Check, compile_check

TOOL_NAME: Final = "json_answer"
TOOL_DESCRIPTION: Final = "Give your whole answer by calling this tool; its arguments are the answer."
# Answers that are not the model's attempt at the format: a refusal is for the client to read.
_UNCHECKED: Final = frozenset({"refusal", "content_filter"})
# Gemini takes any root in its response schema; OpenAI's and Anthropic's JSON modes and every
# tool's parameters take objects only, so other roots go under this property and come back out.
WRAPPER: Final = "value"


class InvalidJson(ApiError):
    """The answer is not the JSON asked for. Carries the usage: the provider charged for it."""

    def __init__(self, message: str, usage: Usage) -> None:
        super().__init__(502, "server_error", message, cause=INVALID_JSON)
        self.usage = usage


# -- sending ---------------------------------------------------------------------------------------


def plan(req: Request, profile: Profile) -> Request:
    """The request as a target with this profile gets it."""
    rf = req.response_format
    if rf is None or not rf.wants_json:
        return req
    if rf.schema is not None:
        validator(rf.schema)  # a broken schema is the client's 400, before any call
        if not profile.any_root and not _object_root(rf.schema):
            rf = dataclasses.replace(rf, schema=_wrap(rf.schema), wrapped=True)
            req = dataclasses.replace(req, response_format=rf)
    if _native(rf, profile):
        return req
    taken = {t.name for t in req.tools}
    name = TOOL_NAME
    while name in taken:
        name += "_"
    params = rf.schema if rf.kind == "json_schema" and rf.schema is not None else {"type": "object"}
    tool = Tool(name, rf.description or TOOL_DESCRIPTION, params)
    choice = req.tool_choice
    if choice is not None and choice.mode == "tool":
        pass  # the client forced one of its own tools: that call is the answer
    elif req.tools and (choice is None or choice.mode != "none"):
        choice = ToolChoice("required", parallel=False)  # its tools, or the answer
    else:
        choice = ToolChoice("tool", name=name, parallel=False)
    changes: dict[str, Any] = {
        "tools": [*req.tools, tool],
        "tool_choice": choice,
        "response_format": dataclasses.replace(rf, tool=name),
    }
    if not profile.thinks_with_forced_tool:
        changes["reasoning"] = None
    return dataclasses.replace(req, **changes)


def _object_root(schema: dict[str, Any]) -> bool:
    return schema.get("type") == "object" or ("type" not in schema and "properties" in schema)


def _wrap(schema: dict[str, Any]) -> dict[str, Any]:
    """An object schema holding ``schema`` as its one property, definitions kept at the root."""
    defs: dict[str, Any] = {k: schema[k] for k in ("$defs", "definitions") if k in schema}
    inner = {k: v for k, v in schema.items() if k not in defs}
    return {
        "type": "object",
        "properties": {WRAPPER: inner},
        "required": [WRAPPER],
        "additionalProperties": False,
        **defs,
    }


def _native(rf: ResponseFormat, profile: Profile) -> bool:
    if rf.kind == "text" or rf.kind not in profile.json_modes:
        return False
    # Anthropic's closed objects cannot say every schema (no maps).
    return profile.schema_dialect != "anthropic" or rf.schema is None or validator(rf.schema).closed_ok


# -- checking --------------------------------------------------------------------------------------


@dataclasses.dataclass(slots=True, frozen=True)
class Validator:
    """jsonschema's validator, which has the last word and the error messages, and the fast
    yes/no check (``schema_check``) that accepts valid answers in a fraction of its time."""

    full: Any
    fast: Check | None
    # Whether Anthropic's closed objects can say this schema (no maps): asked per attempt,
    # so known once per schema like the rest.
    closed_ok: bool

    def error(self, value: Any) -> str | None:
        if self.fast(value) if self.fast is not None else self.full.is_valid(value):
            return None
        err = schema_errors.best_match(self.full.iter_errors(value))
        if err is None:
            return None  # stricter than jsonschema somewhere: jsonschema's word wins
        return f"at {err.json_path}: {err.message}"


@functools.lru_cache(maxsize=256)
def _compiled(canonical: bytes) -> Validator:
    schema = orjson.loads(canonical)
    cls = validators.validator_for(schema, default=validators.Draft202012Validator)
    try:
        cls.check_schema(schema)
    except schema_errors.SchemaError as e:
        raise invalid(f"the response schema is not valid JSON Schema: {e.message}") from None
    return Validator(cls(schema), compile_check(schema), anthropic_takes(schema))


def validator(schema: dict[str, Any]) -> Validator:
    """The compiled validator for ``schema``, built once per distinct schema."""
    return _compiled(orjson.dumps(schema, option=orjson.OPT_SORT_KEYS))


def verdict(rf: ResponseFormat, text: str) -> str | None:
    """None when ``text`` is what ``rf`` asked for; otherwise why not, in a line."""
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError as e:
        return f"not valid JSON ({e})" if text.strip() else "an empty answer, not JSON"
    if rf.kind != "json_schema" or rf.schema is None:
        return None
    why = validator(rf.schema).error(value)
    return None if why is None else f"does not match the schema {why}"


def guard(req: Request, events: AsyncIterator[StreamEvent]) -> AsyncIterator[StreamEvent]:
    """The stream with a forced tool unwrapped into text, raising ``InvalidJson`` in place of
    its end when the finished answer does not hold."""
    rf = req.response_format
    if rf is None or not rf.wants_json:
        return events
    return _guarded(rf, events)


async def _guarded(rf: ResponseFormat, events: AsyncIterator[StreamEvent]) -> AsyncIterator[StreamEvent]:
    answer = _StreamAnswer(rf)
    try:
        async for ev in events:
            for out in answer.feed(ev):
                # What it passes on may be renumbered or cut: every frame is encoded anew.
                yield fresh(out)
    finally:
        aclose = getattr(events, "aclose", None)
        if aclose is not None:
            await aclose()


class _StreamAnswer:
    """One stream's answer: the forced tool turned into text, the wrapper taken off, and
    the whole checked in place of the end."""

    __slots__ = (
        "_rf", "_carrier", "_calls", "_texts", "_carried", "_unwrap", "_text_parts", "_dropped", "_index"
    )  # fmt: skip

    def __init__(self, rf: ResponseFormat) -> None:
        self._rf = rf
        self._carrier: int | None = None
        self._calls = False
        self._texts: list[str] = []
        self._carried: list[str] = []
        self._unwrap = _Unwrapper() if rf.wrapped else None
        self._text_parts: set[int] = set()
        # With a forced tool, text beside the call is the model thinking aloud, not the answer:
        # dropped, and the parts left renumbered so clients see no gap.
        self._dropped: set[int] = set()
        self._index: dict[int, int] = {}

    def feed(self, ev: StreamEvent) -> list[StreamEvent]:
        out = self._feed(ev)
        if self._rf.tool is None:
            return out
        return [self._renumbered(e) for e in out]

    def _renumbered(self, ev: StreamEvent) -> StreamEvent:
        if isinstance(ev, PartStart):
            self._index[ev.index] = len(self._index)
        index = getattr(ev, "index", None)
        if index is None or self._index[index] == index:
            return ev
        return dataclasses.replace(ev, index=self._index[index])  # type: ignore[arg-type]

    def _feed(self, ev: StreamEvent) -> list[StreamEvent]:
        match ev:
            case PartStart(part=TextPart()) if self._rf.tool is not None:
                self._dropped.add(ev.index)
                return []
            case TextDelta() | PartEnd() | SignatureDelta() if ev.index in self._dropped:
                return []
            case PartStart(part=ToolCallPart(name=name)) if name == self._rf.tool and self._carrier is None:
                self._carrier = ev.index
                self._text_parts.add(ev.index)
                return [PartStart(ev.index, TextPart(""))]
            case PartStart(part=ToolCallPart()):
                self._calls = True
            case PartStart(part=TextPart()):
                self._text_parts.add(ev.index)
            case ArgumentsDelta() if ev.index == self._carrier:
                self._carried.append(ev.fragment)
                return self._text(ev.index, ev.fragment)
            case TextDelta():
                self._texts.append(ev.text)
                return self._text(ev.index, ev.text)
            case PartEnd() if self._unwrap is not None and ev.index in self._text_parts:
                rest = self._unwrap.close()
                return [TextDelta(ev.index, rest), ev] if rest else [ev]
            case StreamEnd():
                return [self._end(ev)]
        return [ev]

    def _text(self, index: int, text: str) -> list[StreamEvent]:
        if self._unwrap is not None:
            text = self._unwrap.feed(text)
        return [TextDelta(index, text)] if text else []

    def _end(self, ev: StreamEnd) -> StreamEnd:
        if self._carrier is not None and ev.finish == "tool_use" and not self._calls:
            ev = dataclasses.replace(ev, finish="end", raw_finish=None)
        if not self._calls and ev.finish not in _UNCHECKED:
            text = "".join(self._carried if self._carrier is not None else self._texts)
            why = verdict(self._rf, text)
            if why is not None:
                raise InvalidJson(f"the streamed answer was {why}", ev.usage)
        return ev


class _Unwrapper:
    """Streams ``{"value": X}`` as ``X``: the opening up to its first ``:`` is dropped, and a
    tail of closing braces and blanks is held until more text shows it is not the end. The
    wrapper's own brace is the last one of all."""

    __slots__ = ("_opened", "_head", "_tail")

    def __init__(self) -> None:
        self._opened = False
        self._head = ""
        self._tail = ""

    def feed(self, text: str) -> str:
        if not self._opened:
            self._head += text
            colon = self._head.find(":")
            if colon < 0:
                return ""
            self._opened = True
            text = self._head[colon + 1 :].lstrip()
        text = self._tail + text
        keep = len(text.rstrip("} \t\r\n"))
        self._tail = text[keep:]
        return text[:keep]

    def close(self) -> str:
        tail, self._tail = self._tail, ""
        cut = tail.rfind("}")
        return (tail[:cut] + tail[cut + 1 :] if cut >= 0 else tail).rstrip()
