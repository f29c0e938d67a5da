"""Failover into a smaller window: whole-file tool results pruned so the fallback can serve.

Through the real daemon with the Anthropic SDK as the client: the primary is rate
limited; the fallback's window (set in the config) cannot hold three whole files
read by an agent. With ``prune = "fit"`` it gets them as their pruned form and
answers; without, it is skipped as too long, as before.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import anthropic
import pytest

from daemon.server.observe import BUS
from tests.daemon_harness import Daemon, start_daemon
from tests.e2e.conftest import KEYS
from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.base import Answer, Fault
from tests.fakes.openai_chat import FakeOpenAI

WINDOW = 12_000


def _module(n: int) -> str:
    """A file of about 4,000 tokens by detour's count: many small documented functions."""
    return "".join(
        f"def step_{n}_{i}(value: int,\n           scale: int = {i}) -> int:\n"
        f'    """Scale step {i} of module {n}."""\n    total = value * scale + {i}\n    return total - 1\n\n'
        for i in range(80)
    )


@contextlib.asynccontextmanager
async def _world(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, prune: str
) -> AsyncIterator[tuple[Daemon, FakeAnthropic, FakeOpenAI, Path]]:
    root = tmp_path / "proj"
    for n in range(3):
        (root / "src").mkdir(parents=True, exist_ok=True)
        (root / f"src/mod{n}.py").write_text(_module(n))
    a = await FakeAnthropic(key=KEYS["anthropic"]).start()
    o = await FakeOpenAI(key=KEYS["openai"]).start()
    monkeypatch.setenv("DETOUR_TEST_KEY_A", KEYS["anthropic"])
    monkeypatch.setenv("DETOUR_TEST_KEY_O", KEYS["openai"])
    config = f"""
[providers.up-a]
kind = "anthropic"
base_url = "{a.url}"
api_key_env = "DETOUR_TEST_KEY_A"

[providers.up-o]
kind = "openai"
base_url = "{o.url}/v1"
api_key_env = "DETOUR_TEST_KEY_O"
[providers.up-o.models."small-model"]
context_window = {WINDOW}
input_usd_mtok = 1.0
output_usd_mtok = 2.0

[[routes]]
name = "coder"
chain = ["up-a/claude-sonnet-4-5", "up-o/small-model"]
prune = "{prune}"

[[projects]]
root = {json.dumps(str(root))}
"""
    daemon = await start_daemon(config)
    try:
        yield daemon, a, o, root
    finally:
        await daemon.close()
        await a.close()
        await o.close()


def _conversation(root: Path) -> list[dict[str, object]]:
    messages: list[dict[str, object]] = [{"role": "user", "content": "Why does step 3 overflow?"}]
    for n in range(3):
        path = str(root / f"src/mod{n}.py")
        call = {"type": "tool_use", "id": f"toolu_{n}", "name": "Read", "input": {"file_path": path}}
        messages.append({"role": "assistant", "content": [call]})
        # Claude Code's Read result: the file with line numbers.
        numbered = "\n".join(
            f"{i + 1:>6}\u2192{line}" for i, line in enumerate(Path(path).read_text().splitlines())
        )
        messages.append(
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": f"toolu_{n}", "content": numbered}],
            }
        )
    messages.append({"role": "user", "content": "So?"})
    return messages


async def _ask(daemon: Daemon, root: Path) -> tuple[anthropic.types.Message, dict[str, str]]:
    # The project is indexed in the background at start: this waits for it, as any client may.
    async with aiohttp.ClientSession() as s:
        async with s.post(f"{daemon.url}/context", json={"op": "index"}, headers=daemon.auth()) as r:
            assert r.status == 200, await r.text()
    async with anthropic.AsyncAnthropic(base_url=daemon.url, api_key=daemon.token, max_retries=0) as client:
        raw = await client.messages.with_raw_response.create(
            model="coder",
            max_tokens=1024,
            messages=_conversation(root),  # type: ignore[arg-type]
        )
        return await raw.parse(), dict(raw.headers)


async def test_the_fallback_serves_the_pruned_conversation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with _world(tmp_path, monkeypatch, "fit") as (daemon, a, o, root):
        a.default = Fault(429, "rate limited")  # type: ignore[assignment]
        o.script.append(Answer(text="Step 3 multiplies first."))
        events = daemon.runner.app[BUS].subscribe()
        message, headers = await _ask(daemon, root)
        assert message.content[0].text == "Step 3 multiplies first."  # type: ignore[union-attr]
        assert headers["x-detour-model"] == "small-model"
        adapted = headers["x-detour-adapted"]
        assert f"pruned {root / 'src/mod0.py'}" in adapted
        sent = json.dumps(o.last.body)
        assert "[detour: pruned from 480 lines; full text at " in sent
        assert "step_0_5" in sent  # the outline keeps every definition's signature
        # Only as many files as needed to fit, oldest first: the two newer reads stay whole.
        assert str(root / "src/mod1.py") not in adapted and str(root / "src/mod2.py") not in adapted
        assert sent.count("total = value * scale") == 2 * 80
        seen = []
        while (frame := events.get_nowait()) is not None:
            seen.append(frame.event)
        adapted_events = [e for e in seen if e["type"] == "adapted"]
        assert [(e["target"], e["changes"]) for e in adapted_events] == [  # type: ignore[typeddict-item]
            ("up-o/small-model", [f"pruned {root / 'src/mod0.py'} (480 lines)"])
        ]


async def test_without_prune_the_fallback_is_skipped_as_too_long(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with _world(tmp_path, monkeypatch, "off") as (daemon, a, o, root):
        a.default = Fault(429, "rate limited")  # type: ignore[assignment]
        with pytest.raises(anthropic.APIStatusError) as caught:
            await _ask(daemon, root)
        assert caught.value.status_code == 503
        assert "up-o/small-model:context_too_long" in caught.value.response.headers["x-detour-attempts"]
        assert not o.received


async def test_always_prunes_every_large_whole_file_before_the_first_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with _world(tmp_path, monkeypatch, "always") as (daemon, a, o, root):
        a.script.append(Answer(text="Fine."))
        message, headers = await _ask(daemon, root)
        assert headers["x-detour-model"] == "claude-sonnet-4-5"
        assert headers["x-detour-adapted"].count("pruned ") == 3
        sent = json.dumps(a.last.body)
        assert sent.count("[detour: pruned from 480 lines") == 3 and "total = value * scale" not in sent
