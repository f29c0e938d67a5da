"""Stream events: the one shape every provider's stream is decoded into.

Order, guaranteed by every decoder and relied on by every encoder::

    StreamStart, (PartStart, delta*, PartEnd)*, UsageUpdate*, StreamEnd

``index`` is the part's position in the final ``Response.parts``; parts start in
index order. Several parts may be open at once: OpenAI streams parallel tool
calls with their fragments interleaved, and its decoder relays them as they come,
each delta naming its part. An encoder whose wire has one block at a time (the
Anthropic and Gemini streams) puts events through ``OnePartAtATime`` first. A
failure in the stream is raised as ``ApiError``, never sent as an event.

Original bytes: a content delta decoded from a frame that a client of the provider's own
format would get back unchanged carries that frame's data as it came (``original``), and
the encoder of that format writes it as it is instead of encoding the event again
(``ORIGINAL_BYTES`` switches this off, for the test that the two agree). Whatever changes an
event after decoding, or puts it in another stream, makes a new one, or passes it through
:func:`fresh`, so no stale original goes out.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

from daemon.ir.conversation import (
    AssistantPart,
    Opaque,
    TextPart,
    ThinkingPart,
    ToolCallPart,
    WebSearchPart,
)
from daemon.ir.response import FinishReason, Response, Usage

# Whether encoders write a qualifying frame's original bytes (tests turn it off to compare).
ORIGINAL_BYTES = True


@dataclass(slots=True)
class StreamStart:
    """``head``: the upstream's stream-wide wire fields in its order (OpenAI Chat's ``id``,
    ``created``, ``system_fingerprint``, ...), which an encoder of the same format repeats on
    every chunk, as the upstream did, instead of its own."""

    id: str
    model: str
    usage: Usage | None = None
    kind: Literal["start"] = "start"
    head: dict[str, Any] | None = field(default=None, compare=False)


@dataclass(slots=True)
class PartStart:
    """Opens a part. Its text/arguments are empty here; content comes in deltas.
    A ``ToolCallPart`` carries its id and name; a ``ThinkingPart`` with
    ``redacted`` set and a ``WebSearchPart`` arrive whole and get no deltas."""

    index: int
    part: AssistantPart
    kind: Literal["part_start"] = "part_start"


@dataclass(slots=True)
class TextDelta:
    index: int
    text: str
    kind: Literal["text_delta"] = "text_delta"
    # The frame's data, when it may be written as it came (not part of what the event means).
    original: str | None = field(default=None, compare=False, repr=False)


@dataclass(slots=True)
class ThinkingDelta:
    index: int
    text: str
    kind: Literal["thinking_delta"] = "thinking_delta"
    # The frame's data, when it may be written as it came (not part of what the event means).
    original: str | None = field(default=None, compare=False, repr=False)


@dataclass(slots=True)
class ArgumentsDelta:
    index: int
    fragment: str
    kind: Literal["arguments_delta"] = "arguments_delta"
    # The frame's data, when it may be written as it came (not part of what the event means).
    original: str | None = field(default=None, compare=False, repr=False)


@dataclass(slots=True)
class SignatureDelta:
    """The opaque signature of the part at ``index`` (replaces, never appends)."""

    index: int
    opaque: Opaque
    kind: Literal["signature"] = "signature"


@dataclass(slots=True)
class PartEnd:
    index: int
    kind: Literal["part_end"] = "part_end"


@dataclass(slots=True)
class UsageUpdate:
    """Cumulative usage so far (later reports overwrite earlier ones)."""

    usage: Usage
    kind: Literal["usage"] = "usage"


@dataclass(slots=True)
class StreamEnd:
    finish: FinishReason
    raw_finish: str | None = None
    usage: Usage = field(default_factory=Usage)
    stop_sequence: str | None = None
    kind: Literal["end"] = "end"


StreamEvent = (
    StreamStart
    | PartStart
    | TextDelta
    | ThinkingDelta
    | ArgumentsDelta
    | SignatureDelta
    | PartEnd
    | UsageUpdate
    | StreamEnd
)


_ORIGINALS = (TextDelta, ThinkingDelta, ArgumentsDelta)


def fresh(ev: StreamEvent) -> StreamEvent:
    """``ev`` without original bytes, so it is encoded anew (itself when it has none)."""
    if isinstance(ev, _ORIGINALS) and ev.original is not None:
        return dataclasses.replace(ev, original=None)
    return ev


def is_content(ev: StreamEvent) -> bool:
    """Whether the model has started answering: stream gating holds everything before this."""
    match ev:
        case TextDelta() | ThinkingDelta():
            return bool(ev.text)
        case ArgumentsDelta():
            return True
        case PartStart():
            # A tool call's name, a search the provider ran, or redacted thinking that
            # arrives whole, is content already.
            return isinstance(ev.part, ToolCallPart | WebSearchPart) or (
                isinstance(ev.part, ThinkingPart) and ev.part.redacted is not None
            )
        case _:
            return False


_Indexed = PartStart | TextDelta | ThinkingDelta | ArgumentsDelta | SignatureDelta | PartEnd


class OnePartAtATime:
    """Reorders a stream so its parts come one after another, whole.

    A part started while another is open is held back, with its deltas, until the
    open one ends; then the held parts are released in index order (each as far as
    it has come). With nothing interleaved, every event passes straight through.
    """

    __slots__ = ("_open", "_held")

    def __init__(self) -> None:
        self._open: int | None = None
        self._held: dict[int, list[StreamEvent]] = {}  # started in index order, so kept in it

    def feed(self, ev: StreamEvent) -> list[StreamEvent]:
        if not isinstance(ev, _Indexed):
            return [*self._release_all(), ev] if self._held else [ev]
        if ev.index == self._open:
            if isinstance(ev, PartEnd):
                self._open = None
                return [ev, *self._release()] if self._held else [ev]
            return [ev]
        if self._open is None and not self._held:
            self._open = ev.index if isinstance(ev, PartStart) else None
            return [ev]
        self._held.setdefault(ev.index, []).append(ev)
        return []

    def _release(self) -> list[StreamEvent]:
        """Held parts from the lowest index on, until one that has not ended yet."""
        out: list[StreamEvent] = []
        while self._held and self._open is None:
            index = next(iter(self._held))
            events = self._held.pop(index)
            out += events
            if not isinstance(events[-1], PartEnd):
                self._open = index
        return out

    def _release_all(self) -> list[StreamEvent]:
        """Past the parts (usage or the end): whatever is still held goes now, in order."""
        out: list[StreamEvent] = []
        for events in self._held.values():
            out += events
        self._held.clear()
        self._open = None
        return out


class StreamAssembler:
    """Builds the final ``Response`` from stream events, so streaming and
    non-streaming answers share one path."""

    __slots__ = ("_id", "_model", "_parts", "_usage", "_end")

    def __init__(self) -> None:
        self._id = ""
        self._model = ""
        self._parts: dict[int, AssistantPart] = {}
        self._usage = Usage()
        self._end: StreamEnd | None = None

    def feed(self, ev: StreamEvent) -> None:
        match ev:
            case StreamStart():
                self._id, self._model = ev.id, ev.model
                if ev.usage is not None:
                    self._usage = self._usage.merge(ev.usage)
            case PartStart():
                self._parts[ev.index] = _fresh(ev.part)
            case TextDelta():
                part = self._parts[ev.index]
                assert isinstance(part, TextPart)
                part.text += ev.text
            case ThinkingDelta():
                part = self._parts[ev.index]
                assert isinstance(part, ThinkingPart)
                part.text += ev.text
            case ArgumentsDelta():
                part = self._parts[ev.index]
                assert isinstance(part, ToolCallPart)
                part.arguments += ev.fragment
            case SignatureDelta():
                part = self._parts[ev.index]
                part.opaque = ev.opaque
            case PartEnd():
                part = self._parts[ev.index]
                if isinstance(part, ToolCallPart) and not part.arguments.strip():
                    part.arguments = "{}"
            case UsageUpdate():
                self._usage = self._usage.merge(ev.usage)
            case StreamEnd():
                self._usage = self._usage.merge(ev.usage)
                self._end = ev

    @property
    def finished(self) -> bool:
        return self._end is not None

    @property
    def usage(self) -> Usage:
        return self._usage

    def response(self) -> Response:
        end = self._end or StreamEnd(finish="error")
        return Response(
            id=self._id,
            model=self._model,
            parts=[self._parts[i] for i in sorted(self._parts)],
            finish=end.finish,
            raw_finish=end.raw_finish,
            usage=self._usage,
            stop_sequence=end.stop_sequence,
        )


def _fresh(part: AssistantPart) -> AssistantPart:
    """A copy to accumulate into, so events stay immutable for other consumers."""
    match part:
        case TextPart():
            return TextPart(part.text, opaque=part.opaque)
        case ThinkingPart():
            return ThinkingPart(part.text, opaque=part.opaque, redacted=part.redacted)
        case ToolCallPart():
            return ToolCallPart(part.id, part.name, part.arguments, opaque=part.opaque)
        case WebSearchPart():
            return part  # arrives whole and gets no deltas
