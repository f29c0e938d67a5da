"""Claude Code with `detour mcp` as its MCP server, headless, with no provider on the network.

A fake Anthropic upstream (behind `detour serve`) asks the agent to call the
MCP tool ``get_context`` for a symbol of the project the agent runs in; the
agent starts `detour mcp`, which asks the same daemon's index; the upstream
then answers from the tool result it received. Prints what the agent printed
and what the upstream received.

    unshare -n bash -c 'ip link set lo up; PATH=/tmp/agents-ctx/bin:$PATH .venv/bin/python -m tests.agents.context_trial'
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from tests.agents.trial import example
from tests.context.samples import PYTHON, write
from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.base import Answer, ToolCall
from tests.process_harness import client_token, start, stop

TOOL = "mcp__detour__get_context"
WAIT = "WaitForMcpServers"
TARGET = "pkg/engine.py::Engine.run"


class AskingUpstream(FakeAnthropic):
    """Asks for get_context until its result arrives, then answers from it."""

    def next_reply(self) -> Any:
        body = self.last.body
        tools = {t.get("name") for t in body.get("tools", [])}
        results = [
            b
            for m in body.get("messages", [])
            if isinstance(m.get("content"), list)
            for b in m["content"]
            if b.get("type") == "tool_result"
        ]
        if results and TOOL in tools and any(TOOL in json.dumps(m) for m in body.get("messages", [])):
            content = results[-1]["content"]
            text = content if isinstance(content, str) else " ".join(c.get("text", "") for c in content)
            return Answer(text=f"detour's context says: {text[:300]}")
        if TOOL not in tools and WAIT in tools:  # MCP servers still starting: the agent offers to wait
            schema = next(t for t in body["tools"] if t.get("name") == WAIT).get("input_schema", {})
            return Answer(text="Waiting for detour.", tool_calls=[ToolCall(WAIT, example(schema))])
        if TOOL not in tools:  # a side request: just answer
            return Answer(text='{"title": "trial"}')
        return Answer(
            text="Asking detour.", tool_calls=[ToolCall(TOOL, {"target": TARGET, "budget_tokens": 800})]
        )


async def trial() -> int:
    tmp = Path(tempfile.mkdtemp(prefix="detour-ctx-trial-"))
    work = write(tmp / "project", PYTHON)
    upstream = await AskingUpstream(key="sk-ant-trial").start()
    config = f"""
[providers.anthropic]
kind = "anthropic"
base_url = "{upstream.url}"
api_key_env = "TRIAL_ANTHROPIC"

[[routes]]
name = "coder"
match = ["claude-*"]
chain = ["anthropic/claude-sonnet-4-5"]
"""
    daemon = await start(tmp, config, {"TRIAL_ANTHROPIC": "sk-ant-trial"})
    token = (await client_token(tmp)).strip()
    repo = Path(__file__).resolve().parents[2]
    mcp_env = {
        "PYTHONPATH": str(repo),
        "PYTHON_KEYRING_BACKEND": "tests.memkeyring.MemoryKeyring",
        "DETOUR_TEST_KEYRING_FILE": str(tmp / "keyring.json"),
    }
    server = {
        "command": sys.executable,
        "args": ["-m", "daemon.cli", "mcp", "--url", daemon.url],
        "env": mcp_env,
    }
    mcp_config = json.dumps({"mcpServers": {"detour": server}})
    env = {
        **os.environ,
        "HOME": str(tmp / "home"),
        "ANTHROPIC_BASE_URL": daemon.url,
        "ANTHROPIC_API_KEY": token,
        "DISABLE_TELEMETRY": "1",
        "DISABLE_AUTOUPDATER": "1",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    }
    (tmp / "home").mkdir()
    prompt = f"Use detour's get_context tool on {TARGET} and tell me what Engine.run calls."
    cmd = ["claude", "-p", prompt, "--mcp-config", mcp_config, "--allowedTools", TOOL]
    print("$", " ".join(cmd[:3]), "--mcp-config", "'" + mcp_config + "'", *cmd[5:])
    proc = await asyncio.create_subprocess_exec(
        *cmd, cwd=work, env=env, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(proc.communicate(), 240)
    print(f"--- claude exited {proc.returncode}; it printed:\n{out.decode(errors='replace')}")
    print(f"--- the upstream got {len(upstream.received)} request(s):")
    reached = False
    for rec in upstream.received:
        tools = [t.get("name") for t in rec.body.get("tools", [])]
        blocks = [
            b
            for m in rec.body.get("messages", [])
            if isinstance(m.get("content"), list)
            for b in m["content"]
        ]
        results = [b for b in blocks if b.get("type") == "tool_result"]
        print(f"  model={rec.body.get('model')} tools={tools} results={len(results)}")
        for r in results:
            text = json.dumps(r.get("content"))
            print(f"    tool_result: {text[:400]}")
            reached = reached or "return helper(job) * times" in text
    log = await stop(daemon)
    print("--- daemon log (last lines):\n" + "\n".join(log.splitlines()[-6:]))
    await upstream.close()
    print("--- get_context's result reached the upstream:", reached)
    return 0 if reached else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(trial()))
