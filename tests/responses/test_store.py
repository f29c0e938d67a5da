"""The Responses state store: rows per token, retention, the size limit, reopening."""

from __future__ import annotations

from pathlib import Path

import pytest

from daemon.config import ConfigError, ResponsesConfig, parse
from daemon.ir import ImagePart, Message, Opaque, TextPart, ThinkingPart, ToolCallPart, ToolResultPart
from daemon.responses.store import ResponseStore

CONVERSATION = [
    Message("system", [TextPart("Be terse.")]),
    Message("user", [TextPart("Look"), ImagePart("image/png", "iVBOR", detail="auto")]),
    Message(
        "assistant",
        [
            ThinkingPart("hmm", opaque=Opaque("openai_responses", "dtr1.up-anthropic.sig")),
            ToolCallPart("call_1", "read", '{"p":1}'),
        ],
    ),  # fmt: skip
    Message("user", [ToolResultPart("call_1", [TextPart("42")], name="read")]),
]
ANSWER = Message("assistant", [TextPart("It is 42.")])


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


async def test_round_trip_per_token_and_reopen(tmp_path: Path) -> None:
    store = ResponseStore(tmp_path / "r.db", ResponsesConfig())
    await store.open()
    await store.put("resp_1", "token-a", CONVERSATION, ANSWER, b'{"id":"resp_1"}')
    got = await store.get("resp_1", "token-a")
    assert (
        got is not None and got.conversation == [*CONVERSATION, ANSWER] and got.object == b'{"id":"resp_1"}'
    )
    assert await store.get("resp_1", "token-b") is None  # another client's row is not there for it
    assert not await store.delete("resp_1", "token-b")
    await store.close()
    again = ResponseStore(tmp_path / "r.db", ResponsesConfig())  # migrations run once
    await again.open()
    assert await again.get("resp_1", "token-a") is not None
    assert await again.delete("resp_1", "token-a") and await again.count() == 0
    await again.close()
    assert "token-a" not in (tmp_path / "r.db").read_bytes().decode(errors="replace")


async def test_retention_and_size_limit(tmp_path: Path) -> None:
    clock = Clock()
    store = ResponseStore(tmp_path / "r.db", ResponsesConfig(retention_days=1, max_mb=0.002), clock)
    await store.open()
    for n in range(60):  # about 700 bytes each; the size is checked every 50 writes
        clock.now += 1
        await store.put(f"resp_{n}", "t", CONVERSATION, ANSWER, b"{}")
    kept = await store.count()
    assert 10 < kept < 15  # the newest two or three of the first fifty, and the ten since
    assert await store.get("resp_59", "t") is not None and await store.get("resp_0", "t") is None
    clock.now += 86400 + 1
    assert await store.get("resp_59", "t") is None  # past retention: gone for readers at once
    await store.close()


def test_config_table() -> None:
    cfg = parse("[responses]\nretention_days = 7\nmax_mb = 64\n")
    assert cfg.responses == ResponsesConfig(7.0, 64.0)
    with pytest.raises(ConfigError, match="retention_days"):
        parse("[responses]\nretention_days = 0\n")
    with pytest.raises(ConfigError, match="unknown setting"):
        parse("[responses]\nkeep = 1\n")
