"""Server-Sent Events: an incremental parser for upstream streams and the framing we write.

The parser takes bytes as they arrive (any chunking, LF or CRLF line ends,
multi-line ``data:``, comments) and yields whole frames. Gemini may also send a
raw JSON error body with no ``data:`` prefix; that comes out as a frame with
``raw=True`` so the decoder can raise it.
"""

from __future__ import annotations

from typing import NamedTuple

import orjson


class Frame(NamedTuple):
    """One frame (a tuple: made for every frame, at a third of a frozen dataclass's cost)."""

    event: str | None
    data: str
    raw: bool = False


class SSEParser:
    __slots__ = ("_buf", "_event", "_data", "_raw")

    def __init__(self) -> None:
        self._buf = b""
        self._event: str | None = None
        self._data: list[str] = []
        self._raw: list[str] = []

    def feed(self, chunk: bytes) -> list[Frame]:
        # Every complete line at once: one decode and one split a chunk, not a slice a line
        # (a newline byte never falls inside a multi-byte character, so this cut is safe).
        complete, nl, self._buf = (self._buf + chunk).rpartition(b"\n")
        frames: list[Frame] = []
        if not nl:
            return frames
        for line in complete.decode("utf-8", errors="replace").split("\n"):
            if line.startswith("data: "):  # nearly every line: the fast path
                self._data.append(line[6:].removesuffix("\r"))
            elif (not line or line == "\r") and self._data:  # the blank line after them
                data = self._data[0] if len(self._data) == 1 else "\n".join(self._data)
                frames.append(Frame(self._event, data))
                self._event, self._data, self._raw = None, [], []
            else:
                self._line(line.removesuffix("\r"), frames)
        return frames

    def close(self) -> list[Frame]:
        """End of input: a final frame without its blank line still counts."""
        frames: list[Frame] = []
        if self._buf:
            rest, self._buf = self._buf, b""
            self._line(rest.rstrip(b"\r").decode("utf-8", errors="replace"), frames)
        self._line("", frames)
        return frames

    def _line(self, line: str, frames: list[Frame]) -> None:
        if not line:
            if self._data:
                frames.append(Frame(self._event, "\n".join(self._data)))
            elif self._raw:
                frames.append(Frame(None, "\n".join(self._raw), raw=True))
            self._event, self._data, self._raw = None, [], []
            return
        if line.startswith(":"):
            return
        field, sep, value = line.partition(":")
        if not sep:
            # Not an SSE field: part of a bare JSON body (Gemini errors, JSON arrays).
            self._raw.append(line)
            return
        if value.startswith(" "):
            value = value[1:]
        if field == "data":
            self._data.append(value)
        elif field == "event":
            self._event = value
        elif field in ("id", "retry"):
            pass
        else:
            self._raw.append(line)


def frame(data: object, event: str | None = None) -> bytes:
    """One SSE frame with JSON data."""
    body = orjson.dumps(data)
    if event is None:
        return b"data: " + body + b"\n\n"
    return b"event: " + event.encode() + b"\ndata: " + body + b"\n\n"
