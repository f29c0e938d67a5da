"""Keys never leave: the one step every upstream and in-band error goes through before it
is relayed, logged, stored or published.

Providers echo what they were sent, and not always whole: a key in ``error.param``, in
Anthropic's ``details``, in a plain-text body cut mid-key, or masked the way consoles show
keys back (``sk-proj-****abcd``, ``sk-...abcd``). So ``Redactor`` works on every string
anywhere in an error (its message, details, the upstream body and headers; nested dicts and
lists, keys too) and replaces, for every secret detour holds (the providers' keys and the
local client token):

- every run of text covered by 8-character pieces of the secret (the whole secret, a head, a
  tail, a piece from the middle);
- a masked form: the secret's first three characters, a mask (``**``, ``..``, ``…``), and
  its last four.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from daemon.ir import ApiError

PIECE = 8  # the shortest piece of a secret that is replaced; shorter ones are ordinary text
MASK = "***"
_DEEPEST = 64  # an error nested deeper than this is not worth reading: its depths become MASK
_HEAD, _TAIL = 3, 4


class Redactor:
    __slots__ = ("_pieces", "_runs", "_masked")

    def __init__(self, secrets: Iterable[str]) -> None:
        held = sorted({s for s in secrets if len(s) >= PIECE})
        self._pieces = frozenset(s[i : i + PIECE] for s in held for i in range(len(s) - PIECE + 1))
        # Only a run of characters that occur in some secret can hold a piece of one: finding the
        # runs first keeps the piece-by-piece look to a few short stretches of an error's text.
        chars = "".join(re.escape(c) for c in sorted({c for s in held for c in s}))
        self._runs = re.compile(f"[{chars}]{{{PIECE},}}") if held else None
        masked = [
            f"{re.escape(s[:_HEAD])}[\\w-]*?(?:\\*{{2,}}|\\.{{2,}}|…|•{{2,}})[\\w-]*?{re.escape(s[-_TAIL:])}"
            for s in held
        ]
        self._masked = re.compile("|".join(masked)) if masked else None

    def __call__(self, text: str) -> str:
        return self.text(text)

    def text(self, text: str) -> str:
        if self._runs is None or len(text) < _HEAD + 2 + _TAIL:
            return text
        assert self._masked is not None
        text = self._masked.sub(MASK, text)
        return self._runs.sub(self._run, text)

    def _run(self, m: re.Match[str]) -> str:
        run = m.group()
        covered = bytearray(len(run))
        hit = False
        for i in range(len(run) - PIECE + 1):
            if run[i : i + PIECE] in self._pieces:
                covered[i : i + PIECE] = b"\x01" * PIECE
                hit = True
        if not hit:
            return run
        out: list[str] = []
        i = 0
        while i < len(run):
            if covered[i]:
                while i < len(run) and covered[i]:
                    i += 1
                out.append(MASK)
            else:
                out.append(run[i])
                i += 1
        return "".join(out)

    def value(self, v: Any, depth: int = 0) -> Any:
        """``v`` with every string in it redacted, dict keys included; a JSON-like value in, a copy out."""
        if isinstance(v, str):
            return self.text(v)
        if depth >= _DEEPEST and isinstance(v, dict | list | tuple):
            return MASK
        if isinstance(v, dict):
            return {
                (self.text(k) if isinstance(k, str) else k): self.value(x, depth + 1) for k, x in v.items()
            }
        if isinstance(v, list | tuple):
            return [self.value(x, depth + 1) for x in v]
        return v

    def error(self, err: ApiError) -> ApiError:
        """``err`` itself, with no secret left anywhere in it (its exception args too, which a
        logged traceback would print)."""
        err.message = self.text(err.message)
        err.args = (err.message,)
        if err.details is not None:
            err.details = self.value(err.details)
        err.upstream = self.value(err.upstream)
        err.headers = {self.text(k): self.text(v) for k, v in err.headers.items()}
        return err
