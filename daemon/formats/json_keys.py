"""Renaming object keys in JSON text as it streams, without parsing it whole.

Gemini's response schema may not use property names such as ``file-path``: they
go out renamed (``file_path``), and the answer's keys must be mapped back before
the client sees them. A streamed answer arrives in arbitrary fragments, so this
is a small lexer: text outside strings passes at once; a string is held only
until it is known whether it is a key (the next non-blank character is ``:``),
and only while it is short enough to be one of the renamed names; anything longer
flows through as it comes.

Keys are mapped wherever they appear, not guided by the schema: a free-form
object holding a key equal to a wire name would be renamed too. Wire names are
chosen to be distinct from every declared name, so that takes a key the schema
does not declare that happens to spell a renamed one.
"""

from __future__ import annotations

from typing import Final

import orjson

_OUT, _IN, _ESCAPE, _AFTER, _PASS, _PASS_ESCAPE = range(6)
_BLANK: Final = frozenset(" \t\r\n")


class KeyRenamer:
    """Feed fragments of JSON text; get back the text with keys in ``renames`` replaced."""

    __slots__ = ("_renames", "_longest", "_state", "_held")

    def __init__(self, renames: dict[str, str]) -> None:
        # Keys as their JSON string literals, so escapes compare exactly.
        self._renames = {
            orjson.dumps(k).decode(): orjson.dumps(v).decode() for k, v in renames.items() if k != v
        }
        self._longest = max((len(k) for k in self._renames), default=0)
        self._state = _OUT
        self._held: list[str] = []

    def feed(self, text: str) -> str:
        if not self._renames:
            return text
        out: list[str] = []
        for ch in text:
            self._char(ch, out)
        return "".join(out)

    def flush(self) -> str:
        """Whatever is still held (the text ended inside or right after a string)."""
        held = "".join(self._held)
        self._held = []
        self._state = _OUT
        return held

    def _char(self, ch: str, out: list[str]) -> None:
        state = self._state
        if state == _OUT:
            if ch == '"':
                self._held = ['"']
                self._state = _IN
            else:
                out.append(ch)
        elif state == _IN:
            self._held.append(ch)
            if ch == "\\":
                self._state = _ESCAPE
            elif ch == '"':
                self._state = _AFTER
            elif len(self._held) > self._longest:
                out.append(self.flush())
                self._state = _PASS  # too long to be a renamed key
        elif state == _ESCAPE:
            self._held.append(ch)
            self._state = _IN
        elif state == _AFTER:
            if ch in _BLANK:
                self._held.append(ch)
                return
            if ch == ":":
                literal = "".join(self._held).rstrip()
                blanks = "".join(self._held)[len(literal) :]
                out.append(self._renames.get(literal, literal) + blanks + ch)
                self._held = []
                self._state = _OUT
            else:
                out.append(self.flush())
                self._char(ch, out)
        elif state == _PASS:
            out.append(ch)
            if ch == "\\":
                self._state = _PASS_ESCAPE
            elif ch == '"':
                self._state = _OUT
        else:  # _PASS_ESCAPE
            out.append(ch)
            self._state = _PASS
