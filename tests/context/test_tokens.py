"""Context tokens are cl100k_base's, from the installed wheel, loaded once."""

from __future__ import annotations

import threading

import pytest

from daemon.context import tokens
from daemon.ir.tokens import text_tokens


def test_counts_are_cl100k_base_and_special_tokens_are_plain_text() -> None:
    # OpenAI's own example for cl100k_base (the cookbook's "How to count tokens with tiktoken").
    assert tokens.encoding().encode_ordinary("tiktoken is great!") == [83, 1609, 5963, 374, 2294, 0]
    assert tokens.count("a <|endoftext|> in a file") == tokens.count("a <|endoftext|> in a file\n") - 1
    code = "    def __init__(self, value: int) -> None:\n        self.value = value\n" * 50
    # Under the window's conservative count (a token per three characters): budgets use this one.
    assert (tokens.count(code), text_tokens(code)) == (1000, 1184)


def test_the_encoding_loads_once_for_threads_that_ask_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    loads = []
    real = tokens._load

    def counted() -> object:
        loads.append(1)
        return real()

    monkeypatch.setattr(tokens, "_encoding", None)
    monkeypatch.setattr(tokens, "_load", counted)
    start = threading.Barrier(8)
    seen: list[object] = []

    def ask() -> None:
        start.wait()
        seen.append(tokens.encoding())

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(loads) == 1 and len({id(e) for e in seen}) == 1 and len(seen) == 8


def test_a_file_that_is_not_openais_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tokens, "SHA256", "0" * 64)
    with pytest.raises(tokens.TokenizerMissing, match="not OpenAI's"):
        tokens._load()
