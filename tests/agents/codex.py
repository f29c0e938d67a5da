"""Codex CLI through detour's /v1/responses, to Anthropic- and Gemini-format fake upstreams.

The fake model asks Codex to run ``cat notes.txt`` with its own ``exec_command``
tool, then answers from the tool result. With ``--failover`` the primary answers
the first turn and 429 from the tool result on, so the loop finishes on the
fallback (the other format).

Loopback only, as every agent trial: ``unshare -n bash -c 'ip link set lo up;
PATH=/tmp/agents-codex/bin:$PATH .venv/bin/python -m tests.agents.codex anthropic [--failover]'``.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from tests.agents.trial import SECRET
from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.base import Answer, FakeUpstream, Fault, ToolCall
from tests.fakes.gemini import FakeGemini
from tests.process_harness import client_token, start, stop

TOOL = "exec_command"
MODEL = {"anthropic": "claude-sonnet-4-5", "gemini": "gemini-3-flash-preview"}


def tool_result(fmt: str, body: dict[str, Any]) -> str | None:
    """The last tool result in a request of this format, as text; None before there is one."""
    found: str | None = None
    if fmt == "openai":  # Chat Completions
        for m in body.get("messages", []):
            if m.get("role") == "tool":
                c = m.get("content")
                found = c if isinstance(c, str) else " ".join(x.get("text", "") for x in c or [])
    elif fmt == "anthropic":
        for m in body.get("messages", []):
            for b in m.get("content") if isinstance(m.get("content"), list) else []:
                if b.get("type") == "tool_result":
                    c = b.get("content")
                    found = c if isinstance(c, str) else " ".join(x.get("text", "") for x in c or [])
    else:
        for c in body.get("contents", []):
            for p in c.get("parts", []):
                if "functionResponse" in p:
                    found = json.dumps(p["functionResponse"].get("response"))
    return found


def call_signature(fmt: str, body: dict[str, Any]) -> str:
    """How the history's tool call came back to this fake: Gemini's own signature or a placeholder."""
    if fmt != "gemini":
        return "-"
    parts = [p for c in body.get("contents", []) for p in c.get("parts", []) if "functionCall" in p]
    if not parts:
        return "no call in history"
    own = parts[-1].get("thoughtSignature") != "skip_thought_signature_validator"
    return "its own signature" if own else "placeholder"


def offers_tool(fmt: str, body: dict[str, Any], tool: str = TOOL) -> bool:
    if fmt == "openai":
        return any((t.get("function") or {}).get("name") == tool for t in body.get("tools", []))
    if fmt == "anthropic":
        return any(t.get("name") == tool for t in body.get("tools", []))
    decls = [d for t in body.get("tools", []) for d in t.get("functionDeclarations", [])]
    return any(d.get("name") == tool for d in decls)


def reading(cls: type[FakeUpstream], fmt: str, key: str, refuse_results: bool) -> FakeUpstream:
    """A fake of ``cls`` that reads the file with Codex's tool, then answers from what it got."""

    class Reading(cls):  # type: ignore[valid-type, misc]
        def next_reply(self) -> Any:
            body = self.last.body
            result = tool_result(fmt, body)
            if result is not None:
                if refuse_results:
                    return Fault(429, "rate limited (trial)", headers={"retry-after": "300"})
                return Answer(text=f"The file says: {result[:300]}")
            if not offers_tool(fmt, body):
                return Answer(text="ok")
            return Answer(text="Reading it.", tool_calls=[ToolCall(TOOL, {"cmd": "cat notes.txt"})])

    return Reading(key=key)  # type: ignore[no-any-return]


async def trial(primary_fmt: str, failover: bool) -> int:
    tmp = Path(tempfile.mkdtemp(prefix="detour-codex-"))
    work, home = tmp / "project", tmp / "home"
    work.mkdir()
    (home / ".codex").mkdir(parents=True)
    (work / "notes.txt").write_text(SECRET + "\n")
    other = "gemini" if primary_fmt == "anthropic" else "anthropic"
    classes: dict[str, type[FakeUpstream]] = {"anthropic": FakeAnthropic, "gemini": FakeGemini}
    keys = {"anthropic": "sk-ant-trial", "gemini": "AIzaSy-trial-gemini"}
    fakes = {
        primary_fmt: await reading(classes[primary_fmt], primary_fmt, keys[primary_fmt], failover).start(),
        other: await reading(classes[other], other, keys[other], False).start(),
    }
    config = "".join(
        f'[providers.{f}]\nkind = "{f}"\nbase_url = "{fakes[f].url}"\napi_key_env = "TRIAL_{f.upper()}"\n\n'
        for f in fakes
    )
    config += f'[[routes]]\nname = "coder"\nchain = ["{primary_fmt}/{MODEL[primary_fmt]}", "{other}/{MODEL[other]}"]\n'
    daemon = await start(tmp, config, {f"TRIAL_{f.upper()}": keys[f] for f in fakes})
    token = (await client_token(tmp)).strip()
    (home / ".codex" / "config.toml").write_text(
        'model = "coder"\nmodel_provider = "detour"\n\n[model_providers.detour]\n'
        f'name = "detour"\nbase_url = "{daemon.url}/v1"\nenv_key = "DETOUR_TOKEN"\nwire_api = "responses"\n'
    )
    env = {**os.environ, "HOME": str(home), "CODEX_HOME": str(home / ".codex"), "DETOUR_TOKEN": token}
    prompt = "What does notes.txt in the current directory say? Read it with a shell command."
    cmd = ["codex", "exec", "--skip-git-repo-check", "--dangerously-bypass-approvals-and-sandbox", prompt]
    proc = await asyncio.create_subprocess_exec(
        *cmd, cwd=work, env=env, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(proc.communicate(), 180)
    text = out.decode(errors="replace")
    print(f"--- codex exited {proc.returncode}; it printed:\n{text}")
    for f, fake in fakes.items():
        print(f"--- {f} fake got {len(fake.received)} request(s):")
        for rec in fake.received:
            result, offered = tool_result(f, rec.body) is not None, offers_tool(f, rec.body)
            print(
                f"  tool result in it: {result}; tools offered: {offered}; call: {call_signature(f, rec.body)}"
            )
    log = await stop(daemon)
    print("--- daemon log (last lines):\n" + "\n".join(log.splitlines()[-6:]))
    for fake in fakes.values():
        await fake.close()
    answered = SECRET in text
    print("--- codex answered with the file's content:", answered)
    return 0 if answered else 1


if __name__ == "__main__":
    args = sys.argv[1:]
    sys.exit(
        asyncio.run(
            trial(args[0] if args and not args[0].startswith("-") else "anthropic", "--failover" in args)
        )
    )
