"""A token count that is never below what a model's tokenizer will say.

Today's models use byte-level BPE tokenizers whose pre-tokenizer splits text
into runs of letters, runs of digits (cl100k/o200k: at most three), single
runs of punctuation, and whitespace, and no token crosses those splits. So
the count is taken per piece: a letter run counts one token per three
letters (rounded up; English and identifiers average four or more per
token), a digit run one per digit group of three, each punctuation character
one (merged punctuation like ``()`` or ``):`` is one token, so this
overcounts), a whitespace run one, and a non-ASCII character one per UTF-8
byte (the byte fallback's worst case). It is never less than the chain's own
conservative count (``ir.tokens``: a token per three characters), so a
pruned request that fits by this count fits there too.
"""

from __future__ import annotations

import re

from daemon.ir.tokens import text_tokens

_WORDS = re.compile(r"[A-Za-z]+|[0-9]+")
_SPACES = re.compile(r"\s+")
_SINGLES = re.compile(r"[!-/:-@\[-`{-~\x00-\x08\x0e-\x1f\x7f]")  # punctuation, control characters
_WIDE = re.compile(r"[^\x00-\x7f]+")


def count(text: str) -> int:
    # Each class counted by one regex pass in C: a per-piece loop in Python costs ten times more.
    n = sum((len(w) + 2) // 3 for w in _WORDS.findall(text))
    n += len(_SPACES.findall(text)) + len(_SINGLES.findall(text))
    n += sum(len(w.encode()) for w in _WIDE.findall(text))
    return max(n, text_tokens(text))
