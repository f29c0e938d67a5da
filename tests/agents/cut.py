"""A real agent through a primary that cuts its answers mid-text, on a route with
``continue_on_cut = true``: the next target of the chain finishes each answer.

Two turns, each cut by the primary (a fake upstream of tests/fakes) part-way through
its text: the first ("I will read notes.txt now, ..." and a call of the agent's
file-reading tool) and the last (an answer quoting the file). The fallback, a fake
of another format, answers the continuation requests detour sends it (the same
answer minus the prefix it was given). The loop must complete, and the agent must
show the final answer exactly: no doubled or missing words at the stitch.

Agents: ``claude`` (Anthropic Messages in; primary anthropic, fallback openai) and
``codex`` (Responses in; primary anthropic, fallback gemini); ``PRIMARY FALLBACK``
kinds may be given after the agent, ``--error`` cuts with the provider's in-band
error instead of a reset. Loopback only, as every agent trial:
``unshare -n bash -c 'ip link set lo up; PYTHON_KEYRING_BACKEND=tests.memkeyring.MemoryKeyring
.venv/bin/python -m tests.agents.cut claude'``
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

from daemon.config import ConfigError, parse
from daemon.tasks import spawn, stop_all
from tests.agents.codex import offers_tool, tool_result
from tests.agents.trial import SECRET
from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.base import Answer, FakeUpstream, StreamFault, ToolCall
from tests.fakes.gemini import FakeGemini
from tests.fakes.openai_chat import FakeOpenAI
from tests.process_harness import client_token, start, stop

FIRST = "I will read notes.txt now, then tell you exactly what it says."
FINAL = f"The file says: {SECRET} That is all of notes.txt, quoted word for word."
# Where the primary cuts each turn: mid-word, so a doubled or lost piece shows.
CUT = {FIRST: 30, FINAL: 25}
CLASSES: dict[str, type[FakeUpstream]] = {
    "anthropic": FakeAnthropic,
    "openai": FakeOpenAI,
    "gemini": FakeGemini,
}
KEYS = {"anthropic": "sk-ant-trial", "openai": "sk-trial-openai", "gemini": "AIzaSy-trial-gemini"}
MODEL = {"anthropic": "claude-sonnet-4-5", "openai": "gpt-4.1", "gemini": "gemini-3-flash-preview"}
AGENTS = {"claude": ("anthropic", "openai"), "codex": ("anthropic", "gemini")}


def reading_call(agent: str, path: Path) -> tuple[str, ToolCall]:
    if agent == "claude":
        return "Read", ToolCall("Read", {"file_path": str(path)})
    return "exec_command", ToolCall("exec_command", {"cmd": "cat notes.txt"})


def scripted(cls: type[FakeUpstream], fmt: str, agent: str, path: Path, action: str | None) -> FakeUpstream:
    """A fake of ``cls`` playing the model: read the file, then quote it. With ``action``, each
    answer is cut part-way through its text (the primary); without, it answers whole, and a
    continuation request gets the rest of the same answer (the fallback)."""
    tool, call = reading_call(agent, path)

    class Scripted(cls):  # type: ignore[valid-type, misc]
        def next_reply(self) -> Any:
            body = self.last.body
            result = tool_result(fmt, body)
            if result is not None:
                text = FINAL if SECRET in result else f"The tool result did not hold the file: {result[:200]}"
                calls = []
            elif offers_tool(fmt, body, tool):
                text, calls = FIRST, [call]
            else:
                return Answer(text="ok")  # a side request (a title): never cut
            if action is None or text not in CUT:
                return Answer(text=text, tool_calls=calls, chunks=6)
            return Answer(text=text, tool_calls=calls, chunks=6, fault=cut_after(CUT[text], action))

    return Scripted(key=KEYS[fmt])  # type: ignore[no-any-return]


def cut_after(chars: int, action: str) -> StreamFault:
    try:
        return StreamFault(after_chars=chars, action=action)  # type: ignore[call-arg]
    except TypeError as e:
        raise SystemExit(
            f"the fakes cannot cut after a number of characters ({e}): StreamFault(after_chars=N) "
            "comes with the `prefill` branch; run this trial from a checkout that has it"
        ) from None


def route_config(fakes: dict[str, FakeUpstream], primary: str, fallback: str) -> str:
    text = ""
    for role, fmt in (("primary", primary), ("fallback", fallback)):
        url = fakes[role].url + ("/v1" if fmt == "openai" else "")
        text += f'[providers.{role}]\nkind = "{fmt}"\nbase_url = "{url}"\napi_key_env = "TRIAL_{role.upper()}"\n\n'
    chain = f'["primary/{MODEL[primary]}", "fallback/{MODEL[fallback]}"]'
    text += f'[[routes]]\nname = "coder"\nmatch = ["claude-*"]\nchain = {chain}\ncontinue_on_cut = true\n'
    try:
        parse(text)
    except ConfigError as e:
        raise SystemExit(
            f"this checkout's config has no continue_on_cut ({e}): it comes with the `cont` branch"
        ) from None
    return text


async def watch(url: str, token: str, seen: list[dict[str, Any]], ready: asyncio.Event) -> None:
    """The daemon's ``continued`` events and the ``continued`` key of its responses."""
    async with (
        aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as http,
        http.get(url + "/events", timeout=aiohttp.ClientTimeout(total=None)) as r,
    ):
        ready.set()
        async for line in r.content:
            if line.startswith(b"data: "):
                ev = json.loads(line[6:])
                if ev.get("type") == "continued" or (ev.get("type") == "response" and "continued" in ev):
                    seen.append(ev)


def agent_command(agent: str, url: str, token: str, home: Path) -> tuple[list[str], dict[str, str]]:
    env = {**os.environ, "HOME": str(home)}
    if agent == "claude":
        env |= {"ANTHROPIC_BASE_URL": url, "ANTHROPIC_API_KEY": token, "DISABLE_TELEMETRY": "1",
                "DISABLE_AUTOUPDATER": "1", "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1"}  # fmt: skip
        prompt = "Read notes.txt in the current directory and tell me what it says."
        return ["claude", "-p", prompt, "--allowedTools", "Read"], env
    (home / ".codex").mkdir(parents=True)
    (home / ".codex" / "config.toml").write_text(
        'model = "coder"\nmodel_provider = "detour"\n\n[model_providers.detour]\n'
        f'name = "detour"\nbase_url = "{url}/v1"\nenv_key = "DETOUR_TOKEN"\nwire_api = "responses"\n'
    )
    env |= {"CODEX_HOME": str(home / ".codex"), "DETOUR_TOKEN": token}
    prompt = "What does notes.txt in the current directory say? Read it with a shell command."
    return [
        "codex",
        "exec",
        "--skip-git-repo-check",
        "--dangerously-bypass-approvals-and-sandbox",
        prompt,
    ], env


async def trial(agent: str, primary: str, fallback: str, action: str) -> int:
    cut_after(1, action)  # says what is missing before anything starts
    tmp = Path(tempfile.mkdtemp(prefix=f"detour-cut-{agent}-"))
    work, home = tmp / "project", tmp / "home"
    work.mkdir()
    home.mkdir()
    (work / "notes.txt").write_text(SECRET + "\n")
    fakes = {
        "primary": await scripted(CLASSES[primary], primary, agent, work / "notes.txt", action).start(),
        "fallback": await scripted(CLASSES[fallback], fallback, agent, work / "notes.txt", None).start(),
    }
    config = route_config(fakes, primary, fallback)
    daemon = await start(tmp, config, {"TRIAL_PRIMARY": KEYS[primary], "TRIAL_FALLBACK": KEYS[fallback]})
    token = (await client_token(tmp)).strip()
    seen: list[dict[str, Any]] = []
    ready = asyncio.Event()
    watcher = spawn(watch(daemon.url, token, seen, ready), name="trial-events")
    await ready.wait()
    cmd, env = agent_command(agent, daemon.url, token, home)
    proc = await asyncio.create_subprocess_exec(
        *cmd, cwd=work, env=env, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out_b, err_b = await asyncio.wait_for(proc.communicate(), 240)
    out, err = out_b.decode(errors="replace"), err_b.decode(errors="replace")
    await asyncio.sleep(0.3)  # the last events
    await stop_all([watcher])
    print(f"--- {agent} exited {proc.returncode}; its stdout:\n{out}")
    if proc.returncode or agent == "codex":
        print("--- its stderr (last lines):\n" + "\n".join(err.splitlines()[-12:]))
    for role, fmt in (("primary", primary), ("fallback", fallback)):
        fake = fakes[role]
        results = [tool_result(fmt, rec.body) is not None for rec in fake.received]
        print(f"--- {role} ({fmt}) got {len(results)} request(s); a tool result in each: {results}")
        # As the fake read them, in its wire's form of "continue this answer".
        for start_of in getattr(fake, "continuations", []):
            print(f"  asked to continue an answer starting {start_of!r}")
    print("--- the daemon's continuations:")
    for ev in seen:
        c = ev if ev["type"] == "continued" else ev["continued"]
        extra = (
            f" cost ${c['cost_usd']:.6f} vs retry ${c['retry_usd']:.6f}" if ev["type"] == "response" else ""
        )
        print(f"  {ev['type']}: {c['from']} -> {c['to']} after {c['chars']} chars{extra}")
    log = await stop(daemon)
    lines = [line for line in log.splitlines() if "watchfiles" not in line]
    print("--- daemon log (last lines):\n" + "\n".join(lines[-8:]))
    for fake in fakes.values():
        await fake.close()
    exact = FINAL in out
    cuts = sum(1 for ev in seen if ev["type"] == "continued")
    print(f"--- {agent} showed the final answer exactly once and whole: {exact and out.count(FINAL) == 1}")
    if agent == "codex":  # its transcript (stderr) shows the first turn's text too
        print(f"--- codex showed the first turn's text whole: {FIRST in err}")
    print(f"--- continued events: {cuts} (two turns were cut)")
    return 0 if exact and proc.returncode == 0 and cuts == 2 else 1


def main(args: list[str]) -> int:
    words = [a for a in args if not a.startswith("-")]
    agent = words[0] if words else "claude"
    primary, fallback = (words[1], words[2]) if len(words) >= 3 else AGENTS[agent]
    return asyncio.run(trial(agent, primary, fallback, "error" if "--error" in args else "cut"))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
