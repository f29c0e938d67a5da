"""OpenCode through detour to Anthropic: do its cache markers arrive, and what does turn 2 read?

Starts a fake Anthropic that keeps a prompt cache (tests/fakes/anthropic_cache.PromptCache)
and asks to read a file until the tool result comes back, `detour serve` in front
of it, and `opencode run` (an OpenAI-compatible client: it marks its system and
last user messages with ``cache_control``) with the model ``claude-sonnet-4-5``.
Prints, per request the fake got, where the breakpoints sat and what the cache
read and wrote.

Run it with the loopback as the only network:
``unshare -n bash -c 'ip link set lo up; .venv/bin/python -m tests.agents.opencode_cache'``
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.anthropic_cache import PromptCache, breakpoints, prompt_blocks
from tests.fakes.base import Answer, ToolCall
from tests.process_harness import client_token, start, stop

SECRET = "The launch code is 7-4-1."
MODEL = "claude-sonnet-4-5"


class ReadingAnthropic(FakeAnthropic):
    """Asks to read the file until a tool result arrives, then answers from it."""

    def __init__(self, path: Path) -> None:
        super().__init__(key="sk-ant-trial")
        self.path = path

    def next_reply(self) -> Any:
        body = self.last.body
        tools = {t.get("name") for t in body.get("tools", [])}
        last = body["messages"][-1]["content"]
        results = [b for b in last if isinstance(b, dict) and b.get("type") == "tool_result"]
        if results:
            return Answer(text=f"The file says: {json.dumps(results[-1].get('content'))[:200]}")
        if "read" not in tools:  # a side request (the session title): just answer
            return Answer(text="Reading notes")
        return Answer(text="Reading it.", tool_calls=[ToolCall("read", {"filePath": str(self.path)})])


def where(body: dict[str, Any], i: int) -> str:
    n_tools, system = len(body.get("tools", [])), body.get("system")
    n_system = 1 if isinstance(system, str) else len(system or [])
    if i < n_tools:
        return f"tools[{i}]"
    if i < n_tools + n_system:
        return f"system[{i - n_tools}]"
    k = i - n_tools - n_system
    for m, msg in enumerate(body["messages"]):
        size = 1 if isinstance(msg["content"], str) else len(msg["content"])
        if k < size:
            return f"messages[{m}]({msg['role']}).content[{k}]"
        k -= size
    return "?"


async def trial() -> int:
    tmp = Path(tempfile.mkdtemp(prefix="detour-opencode-"))
    work, home = tmp / "project", tmp / "home"
    work.mkdir()
    home.mkdir()
    (work / "notes.txt").write_text(SECRET + "\n")
    fake = await ReadingAnthropic(work / "notes.txt").start()
    assert isinstance(fake, ReadingAnthropic)
    fake.cache = PromptCache()
    config = f"""
[providers.anthropic]
kind = "anthropic"
base_url = "{fake.url}"
api_key_env = "TRIAL_ANTHROPIC"

[[routes]]
name = "default"
chain = ["anthropic/{MODEL}"]
"""
    daemon = await start(tmp, config, {"TRIAL_ANTHROPIC": "sk-ant-trial"})
    token = (await client_token(tmp)).strip()
    settings = home / ".config" / "opencode"
    settings.mkdir(parents=True)
    (settings / "opencode.json").write_text(
        json.dumps(
            {
                "$schema": "https://opencode.ai/config.json",
                "autoupdate": False,
                "provider": {
                    "detour": {
                        "npm": "@ai-sdk/openai-compatible",
                        "name": "detour",
                        "options": {"baseURL": daemon.url + "/v1", "apiKey": "{env:DETOUR_TOKEN}"},
                        "models": {MODEL: {"name": MODEL}},
                    }
                },
                "model": f"detour/{MODEL}",
                # A project with no git repository is an "external directory" to OpenCode.
                "permission": {"external_directory": "allow", "read": "allow"},
            }
        )
    )
    env = {**os.environ, "HOME": str(home), "DETOUR_TOKEN": token}
    for flag in ("AUTOUPDATE", "MODELS_FETCH", "LSP_DOWNLOAD", "SHARE", "DEFAULT_PLUGINS"):
        env[f"OPENCODE_DISABLE_{flag}"] = "1"
    prompt = "Read notes.txt in the current directory and tell me what it says."
    proc = await asyncio.create_subprocess_exec(
        "opencode", "run", prompt, cwd=work, env=env, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(proc.communicate(), 240)
    print(f"--- opencode exited {proc.returncode}; it printed:\n{out.decode(errors='replace')[-1500:]}")
    assert fake.cache is not None
    print(f"--- the fake Anthropic got {len(fake.received)} request(s):")
    billed = iter(fake.cache.log)
    for rec in fake.received:
        body = rec.body
        if rec.path != "/v1/messages":
            continue
        marks = [where(body, i) for i in breakpoints(body)]
        prompt_tok, read, wrote = next(billed, (0, 0, 0))
        print(
            f"  tools={len(body.get('tools', []))} blocks={len(prompt_blocks(body))} breakpoints={marks}\n"
            f"    prompt {prompt_tok} tokens: read {read} from the cache, wrote {wrote}"
        )
    log = await stop(daemon)
    print("--- daemon log (last lines):\n" + "\n".join(log.splitlines()[-5:]))
    await fake.close()
    answered = SECRET in out.decode(errors="replace")
    print("--- the agent saw the file's content:", answered)
    return 0 if answered else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(trial()))
