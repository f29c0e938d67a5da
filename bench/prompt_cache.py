"""What prompt caching saves a Codex-style agent that fails over to Anthropic.

A 10-turn agent loop through the official OpenAI SDK's Responses client: a system
prompt and 24 tool schemas about Claude Code's size, each turn one more tool call
and its result (a file of a few KB). The route's primary is OpenAI (Responses);
from turn 2 on it answers 429 with an hour's retry-after, so the rest of the loop
is served by Anthropic. The fake Anthropic bills like the real prompt cache (a
prefix up to a breakpoint is written the first time, read after; 4 characters a
token) and the input is priced by genai-prices for claude-sonnet-4-5. The same
loop runs with ``[routing] prompt_cache = "auto"`` and ``"off"``; the Codex client
sends no cache markers, so whatever Anthropic caches is what detour placed.

    .venv/bin/python bench/prompt_cache.py
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

import genai_prices
import openai

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.daemon_harness import start_daemon  # noqa: E402
from tests.fakes.anthropic import FakeAnthropic  # noqa: E402
from tests.fakes.anthropic_cache import PromptCache  # noqa: E402
from tests.fakes.base import Answer, Fault, HiddenPrompt, ToolCall  # noqa: E402
from tests.fakes.openai_responses import FakeOpenAIResponses  # noqa: E402

TURNS = 10
MODEL = "claude-sonnet-4-5"
KEY_OPENAI, KEY_ANTHROPIC = "sk-proj-BENCH-0123456789", "sk-ant-BENCH-0123456789"
SYSTEM = "You are a coding agent working in the user's repository. " + " ".join(
    f"Guideline {i}: read before you edit, keep changes minimal, run the tests, and report "
    f"exactly what changed and why."
    for i in range(120)
)  # about 3k tokens, as Claude Code's is
TOOLS: list[Any] = [
    {
        "type": "function",
        "name": f"tool_{i}",
        "description": f"Tool {i}. " + "Use it when the task needs it; explain the result to the user. " * 12,
        "parameters": {
            "type": "object",
            "properties": {
                "path": {"type": "string", "description": "An absolute path inside the repository."},
                "pattern": {"type": "string", "description": "A regular expression to look for."},
                "limit": {"type": "integer", "description": "How many lines to read at most."},
                "recursive": {"type": "boolean", "description": "Whether to descend into folders."},
            },
            "required": ["path"],
        },
    }
    for i in range(24)
]
FILE = "def handler(event):\n    return process(event)  # a line of the file the tool read\n" * 40


def config(openai_url: str, anthropic_url: str, mode: str) -> str:
    return f"""
[providers.oai]
kind = "openai"
api = "responses"
base_url = "{openai_url}/v1"
api_key_env = "BENCH_KEY_OPENAI"

[providers.ant]
kind = "anthropic"
base_url = "{anthropic_url}"
api_key_env = "BENCH_KEY_ANTHROPIC"

[[routes]]
name = "codex"
chain = ["oai/gpt-5", "ant/{MODEL}"]
max_wait_s = 0

[routing]
prompt_cache = "{mode}"
"""


def history(turn: int) -> list[Any]:
    items: list[Any] = [{"role": "user", "content": "Find and fix the failing test in the handler module."}]
    for j in range(turn):
        call = f"call_{j}"
        args = json.dumps({"path": f"/repo/src/module_{j}.py"})
        items.append({"type": "function_call", "call_id": call, "name": f"tool_{j % 24}", "arguments": args})
        items.append({"type": "function_call_output", "call_id": call, "output": FILE})
    return items


def input_usd(prompt: int, read: int, written: int) -> float:
    usage = genai_prices.Usage(input_tokens=prompt, cache_read_tokens=read, cache_write_tokens=written)
    return float(genai_prices.calc_price(usage, MODEL, provider_id="anthropic").total_price)


async def run(mode: str) -> dict[str, Any]:
    oai = await FakeOpenAIResponses(key=KEY_OPENAI).start()
    ant = await FakeAnthropic(key=KEY_ANTHROPIC).start()
    assert isinstance(oai, FakeOpenAIResponses) and isinstance(ant, FakeAnthropic)
    oai.hidden = HiddenPrompt()  # bill the prompt it got, at 4 characters a token
    ant.cache = PromptCache(min_tokens=1024)
    oai.script.append(Answer(text=None, tool_calls=[ToolCall("tool_0", {"path": "/repo"})]))
    oai.script.append(Fault(429, "Rate limit reached", {"retry-after": "3600"}))
    ant.default = Answer(text=None, tool_calls=[ToolCall("tool_1", {"path": "/repo/src"})], output_tokens=40)
    daemon = await start_daemon(config(oai.url, ant.url, mode))
    charged = 0.0
    try:
        sdk = openai.AsyncOpenAI(base_url=daemon.url + "/v1", api_key=daemon.token, max_retries=0)
        async with sdk:
            for turn in range(TURNS):
                raw = await sdk.responses.with_raw_response.create(
                    model="codex", instructions=SYSTEM, input=history(turn), tools=TOOLS
                )
                charged += float(raw.headers["x-detour-cost-usd"])
    finally:
        await daemon.close()
        await oai.close()
        await ant.close()
    bills = ant.cache.log
    return {
        "anthropic_turns": len(bills),
        "prompt_tokens": sum(b[0] for b in bills),
        "read_tokens": sum(b[1] for b in bills),
        "written_tokens": sum(b[2] for b in bills),
        "input_usd": sum(input_usd(*b) for b in bills),
        "charged_usd": charged,
    }


async def main() -> None:
    os.environ["BENCH_KEY_OPENAI"], os.environ["BENCH_KEY_ANTHROPIC"] = KEY_OPENAI, KEY_ANTHROPIC
    results = {mode: await run(mode) for mode in ("off", "auto")}
    print(f"{TURNS}-turn Codex-style loop, 24 tools, failing over to Anthropic ({MODEL}) at turn 2")
    head = ("turns", 6), ("prompt tok", 12), ("read tok", 10), ("written", 9), ("input $", 10), ("all $", 10)
    print(f"{'prompt_cache':<14}" + "".join(f"{name:>{width}}" for name, width in head))
    for mode, r in results.items():
        print(
            f"{mode:<14}{r['anthropic_turns']:>6}{r['prompt_tokens']:>12}{r['read_tokens']:>10}"
            f"{r['written_tokens']:>9}{r['input_usd']:>10.4f}{r['charged_usd']:>10.4f}"
        )
    off, auto = results["off"], results["auto"]
    print(
        f"auto / off: billed input cost x{auto['input_usd'] / off['input_usd']:.3f} "
        f"(saves {1 - auto['input_usd'] / off['input_usd']:.1%}); "
        f"all cost detour charged x{auto['charged_usd'] / off['charged_usd']:.3f}"
    )


if __name__ == "__main__":
    asyncio.run(main())
