"""Run a real coding agent through detour, as a user would, with no provider on the network.

Starts the fake upstreams of tests/fakes as the providers (Anthropic answers 429
with a long retry-after, so every request fails over to an OpenAI-format
fallback that really calls the agent's file-reading tool, then answers from the
tool result), starts `detour serve` as its own process, runs the agent, and
prints what the agent printed and what the fallback received.

Run it with the loopback as the only network, so the agent's telemetry cannot
leave: ``unshare -n bash -c 'ip link set lo up; .venv/bin/python -m tests.agents.trial claude'``
(agents: claude, gemini; their binaries are looked up on PATH; ``gemini --router``
lets Gemini CLI make its JSON-schema routing call first, ``claude --title`` lets Claude
Code ask for a session title as JSON).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import aiohttp

from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.base import Answer, Fault, ToolCall
from tests.fakes.openai_chat import FakeOpenAI
from tests.process_harness import client_token, start, stop

SECRET = "The launch code is 7-4-1."
READ_TOOL = {"claude": ("Read", "file_path"), "gemini": ("read_file", "file_path")}


class ReadingFallback(FakeOpenAI):
    """Asks to read the file until a tool result arrives, then answers from it."""

    def __init__(self, tool: str, arg: str, path: Path) -> None:
        super().__init__(key="sk-trial-openai")
        self.tool, self.arg, self.path = tool, arg, path

    def next_reply(self) -> Any:
        fmt = self.last.body.get("response_format") or {}
        if fmt.get("type") == "json_schema":  # a side request wanting JSON (Gemini CLI's router)
            return Answer(text=json.dumps(example(fmt["json_schema"].get("schema", {}))))
        messages = self.last.body.get("messages", [])
        tools = {t["function"]["name"] for t in self.last.body.get("tools", [])}
        results = [m for m in messages if m.get("role") == "tool"]
        if results:
            return Answer(text=f"The file says: {results[-1]['content']!s:.200}")
        if self.tool not in tools:  # a side request (title, routing): just answer
            return Answer(text='{"title": "trial"}')
        return Answer(text="Reading it.", tool_calls=[ToolCall(self.tool, {self.arg: str(self.path)})])


def example(schema: dict[str, Any]) -> Any:
    """The plainest value that holds against ``schema``."""
    if "enum" in schema:
        return schema["enum"][0]
    match str(schema.get("type", "object")).lower():
        case "object":
            props = schema.get("properties", {})
            return {k: example(props[k]) for k in schema.get("required", props)}
        case "array":
            return []
        case "string":
            return "flash"
        case "number" | "integer":
            return max(1, schema.get("minimum", 1))
        case "boolean":
            return False
    return None


async def trial(agent: str, pick_model: bool, side_requests: bool) -> int:
    tmp = Path(tempfile.mkdtemp(prefix="detour-trial-"))
    work = tmp / "project"
    work.mkdir()
    (work / "notes.txt").write_text(SECRET + "\n")
    primary = await FakeAnthropic(key="sk-ant-trial").start()
    primary.default = Fault(429, "rate limited (trial)", headers={"retry-after": "300"})  # type: ignore[assignment]
    tool, arg = READ_TOOL[agent]
    fallback = await ReadingFallback(tool, arg, work / "notes.txt").start()
    config = f"""
[providers.anthropic]
kind = "anthropic"
base_url = "{primary.url}"
api_key_env = "TRIAL_ANTHROPIC"

[providers.openai]
kind = "openai"
base_url = "{fallback.url}/v1"
api_key_env = "TRIAL_OPENAI"

[[routes]]
name = "coder"
match = ["claude-*", "gemini-*"]
chain = ["anthropic/claude-sonnet-4-5", "openai/gpt-4.1"]
"""
    daemon = await start(tmp, config, {"TRIAL_ANTHROPIC": "sk-ant-trial", "TRIAL_OPENAI": "sk-trial-openai"})
    token = (await client_token(tmp)).strip()
    env = {**os.environ, "HOME": str(tmp / "home")}
    (tmp / "home").mkdir()
    prompt = "Read notes.txt in the current directory and tell me what it says."
    if agent == "claude":
        env |= {
            "ANTHROPIC_BASE_URL": daemon.url,
            "ANTHROPIC_API_KEY": token,
            "DISABLE_TELEMETRY": "1",
            "DISABLE_AUTOUPDATER": "1",
        }
        if not side_requests:  # otherwise it also asks for a title, as JSON (output_config.format)
            env["CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC"] = "1"
        cmd = ["claude", "-p", prompt, "--allowedTools", "Read"]
    else:
        settings = tmp / "home" / ".gemini"
        settings.mkdir()
        (settings / "settings.json").write_text(
            json.dumps({"security": {"auth": {"selectedType": "gemini-api-key"}}})
        )
        env |= {
            "GOOGLE_GEMINI_BASE_URL": daemon.url,
            "GEMINI_API_KEY": token,
            "GEMINI_CLI_TRUST_WORKSPACE": "true",
        }
        # Without -m, Gemini CLI first asks a router model for a JSON routing decision.
        model = ["-m", "gemini-3-flash-preview"] if pick_model else []
        cmd = ["gemini", *model, "-p", prompt, "--yolo"]
    proc = await asyncio.create_subprocess_exec(
        *cmd, cwd=work, env=env, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(proc.communicate(), 180)
    print(f"--- {agent} exited {proc.returncode}; it printed:\n{out.decode(errors='replace')}")
    async with aiohttp.ClientSession() as s:
        async with s.get(daemon.url + "/health") as r:
            print("--- daemon health:", r.status)
    print(f"--- primary (Anthropic format) got {len(primary.received)} request(s); fallback (OpenAI) got:")
    for rec in fallback.received:
        msgs = rec.body.get("messages", [])
        roles = [m.get("role") for m in msgs]
        json_mode = (rec.body.get("response_format") or {}).get("type", "text")
        print(
            f"  model={rec.body.get('model')} stream={rec.body.get('stream')} "
            f"tools={len(rec.body.get('tools', []))} format={json_mode} roles={roles}"
        )
    log = await stop(daemon)
    print("--- daemon log (last lines):\n" + "\n".join(log.splitlines()[-8:]))
    await primary.close()
    await fallback.close()
    answered = SECRET in out.decode(errors="replace")
    print("--- the agent saw the file's content through the fallback:", answered)
    return 0 if answered else 1


if __name__ == "__main__":
    args = sys.argv[1:]
    sys.exit(asyncio.run(trial(args[0] if args else "claude", "--router" not in args, "--title" in args)))
