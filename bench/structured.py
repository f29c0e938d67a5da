"""What checking structured answers costs, and how often a mixed batch needs a failover for it.

1. Added latency: a 20 KB JSON answer checked against a 50-property schema
   (``routing.structured.guard`` over the answer in one delta: parse, validate with the
   cached validator), against parsing alone; the first check (which compiles the
   validator) separately; and the same answer through the guard in 200 deltas. Aim: under 1 ms.
2. Failover share: the real daemon in-process, a route of the fake OpenAI upstream then
   the fake Anthropic one, and a batch of mixed requests (plain text and JSON, streamed
   and not), the first model answering each JSON request with valid JSON, prose,
   truncated JSON or JSON that breaks the schema, at fixed rates (seeded). Prints the
   share of requests that failed over for invalid JSON and checks every client got
   valid JSON.

    .venv/bin/python bench/structured.py
"""

from __future__ import annotations

import asyncio
import json
import random
import statistics
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
import orjson  # noqa: E402

from daemon import ir  # noqa: E402
from daemon.routing import structured  # noqa: E402

ENUM = ["alpha", "beta", "gamma", "delta"]


def schema_of_50() -> dict[str, Any]:
    """50 properties of every kind: strings, numbers, enums, nullable, nested objects, arrays of objects."""
    item = {
        "type": "object",
        "properties": {"id": {"type": "integer"}, "label": {"type": "string"}, "score": {"type": "number"}},
        "required": ["id", "label", "score"],
        "additionalProperties": False,
    }
    props: dict[str, Any] = {}
    for i in range(50):
        match i % 6:
            case 0:
                props[f"text_{i}"] = {"type": "string", "maxLength": 2000}
            case 1:
                props[f"count_{i}"] = {"type": "integer", "minimum": 0}
            case 2:
                props[f"kind_{i}"] = {"enum": ENUM}
            case 3:
                props[f"maybe_{i}"] = {"anyOf": [{"type": "string"}, {"type": "null"}]}
            case 4:
                props[f"items_{i}"] = {"type": "array", "items": {"$ref": "#/$defs/Item"}}
            case _:
                props[f"nested_{i}"] = {
                    "type": "object",
                    "properties": {"a": {"type": "string"}, "b": {"type": "boolean"}},
                    "required": ["a", "b"],
                }
    return {
        "type": "object",
        "$defs": {"Item": item},
        "properties": props,
        "required": list(props),
        "additionalProperties": False,
    }


def answer_of(schema: dict[str, Any], size: int = 20_000) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for name in schema["properties"]:
        kind = name.split("_")[0]
        value[name] = {
            "text": "lorem ipsum " * 8,
            "count": 7,
            "kind": "beta",
            "maybe": None,
            "items": [{"id": j, "label": f"item {j}", "score": j / 3} for j in range(3)],
            "nested": {"a": "x", "b": True},
        }[kind]
    # Grow the arrays until the answer is the size asked for.
    j = 3
    while len(orjson.dumps(value)) < size:
        for name in schema["properties"]:
            if name.startswith("items_"):
                value[name].append({"id": j, "label": f"item {j}", "score": j / 3})
        j += 1
    return value


def timed(fn: Any, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    return out


def summary(ms: list[float]) -> str:
    ms = sorted(ms)
    return f"p50 {statistics.median(ms):.3f} ms, p99 {ms[int(len(ms) * 0.99) - 1]:.3f} ms"


async def events(text: str, pieces: int) -> AsyncIterator[ir.StreamEvent]:
    step = len(text) // pieces + 1
    yield ir.StreamStart("r", "m")
    yield ir.PartStart(0, ir.TextPart(""))
    for i in range(0, len(text), step):
        yield ir.TextDelta(0, text[i : i + step])
    yield ir.PartEnd(0)
    yield ir.StreamEnd("end")


def latency() -> None:
    schema = schema_of_50()
    text = orjson.dumps(answer_of(schema)).decode()
    rf = ir.ResponseFormat("json_schema", schema=schema)
    req = ir.Request("m", [], response_format=rf)

    async def drain(pieces: int) -> None:
        async for _ in structured.guard(req, events(text, pieces)):
            pass

    loop = asyncio.new_event_loop()

    def check() -> None:
        loop.run_until_complete(drain(1))

    structured._compiled.cache_clear()
    first = timed(check, 1)[0]
    n = 2000
    checked = timed(check, n)
    parsed = timed(lambda: orjson.loads(text), n)
    added = statistics.median(checked) - statistics.median(parsed)

    async def raw() -> None:
        async for _ in events(text, 200):
            pass

    guarded = timed(lambda: loop.run_until_complete(drain(200)), 500)
    bare = timed(lambda: loop.run_until_complete(raw()), 500)
    loop.close()
    size, props = len(text) / 1000, len(schema["properties"])
    print(f"== check a {size:.1f} KB answer against a {props}-property schema ==")
    print(f"  parse only (orjson)          {summary(parsed)}")
    print(f"  parse + validate (1 delta)   {summary(checked)}")
    full = structured.validator(schema).full
    value = orjson.loads(text)
    print(f"  jsonschema alone, is_valid   {summary(timed(lambda: full.is_valid(value), 50))}")
    print(f"  added by validation (p50)    {added:.3f} ms   (aim: under 1 ms)")
    print(f"  first check, compiling       {first:.3f} ms")
    stream_added = statistics.median(guarded) - statistics.median(bare)
    print(
        f"  stream guard, 200 deltas     {summary(guarded)}; added {stream_added:.3f} ms over the bare stream"
    )


# -- failover share ------------------------------------------------------------------------------

MIX = {"valid": 0.70, "prose": 0.10, "truncated": 0.10, "schema_violation": 0.10}
SMALL = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "role": {"enum": ["admin", "user"]},
        "age": {"type": "integer"},
    },
    "required": ["name", "role", "age"],
}
GOOD = {"name": "Ada", "role": "admin", "age": 36}


async def failover_share(n: int = 300, seed: int = 7) -> None:
    import os

    from tests.daemon_harness import start_daemon
    from tests.fakes.anthropic import FakeAnthropic
    from tests.fakes.base import Answer
    from tests.fakes.openai_chat import FakeOpenAI

    rng = random.Random(seed)
    primary, backup = await FakeOpenAI("sk-o").start(), await FakeAnthropic("sk-a").start()
    os.environ["BENCH_KEY_O"], os.environ["BENCH_KEY_A"] = "sk-o", "sk-a"
    config = f"""
[providers.o]
kind = "openai"
base_url = "{primary.url}/v1"
api_key_env = "BENCH_KEY_O"

[providers.a]
kind = "anthropic"
base_url = "{backup.url}"
api_key_env = "BENCH_KEY_A"

[[routes]]
name = "json"
chain = ["o/gpt-4.1", "a/claude-sonnet-4-5"]
"""
    daemon = await start_daemon(config)
    backup.default = Answer(json=GOOD)
    counts = {"requests": 0, "json": 0, "failed_over": 0, "valid_at_client": 0, "stream_errors": 0}
    by_kind: dict[str, int] = dict.fromkeys(MIX, 0)
    try:
        async with aiohttp.ClientSession(headers=daemon.auth()) as http:
            for _ in range(n):
                counts["requests"] += 1
                wants_json = rng.random() < 0.75
                stream = rng.random() < 0.3
                body: dict[str, Any] = {
                    "model": "json",
                    "messages": [{"role": "user", "content": "Who is Ada? Answer in JSON."}],
                    "stream": stream,
                }
                if not wants_json:
                    primary.script.append(Answer(text="Ada was a mathematician."))
                else:
                    counts["json"] += 1
                    body["response_format"] = {
                        "type": "json_schema",
                        "json_schema": {"name": "p", "schema": SMALL},
                    }
                    kind = rng.choices(list(MIX), list(MIX.values()))[0]
                    by_kind[kind] += 1
                    primary.script.append(
                        {
                            "valid": Answer(json=GOOD),
                            "prose": Answer(text="Ada is an admin aged 36."),
                            "truncated": Answer(text=json.dumps(GOOD)[:-6]),
                            "schema_violation": Answer(json={**GOOD, "role": "root"}),
                        }[kind]
                    )
                async with http.post(daemon.url + "/v1/chat/completions", json=body) as resp:
                    attempts = resp.headers.get("x-detour-attempts", "")
                    raw = await resp.text()
                if "invalid_json" in attempts:
                    counts["failed_over"] += 1
                if wants_json:
                    text = _content(raw, stream)
                    if text is None:
                        counts["stream_errors"] += 1
                    elif json.loads(text) == GOOD:
                        counts["valid_at_client"] += 1
    finally:
        await daemon.close()
        await primary.close()
        await backup.close()
    share = counts["failed_over"] / counts["requests"]
    print(f"\n== a batch of {n} mixed requests (seed {seed}): 75% JSON, 30% streamed ==")
    print(f"  first model's JSON answers: {by_kind}")
    failed, total = counts["failed_over"], counts["requests"]
    print(f"  failed over for invalid JSON: {failed} of {total} requests ({share:.1%})")
    json_share = counts["failed_over"] / max(1, counts["json"])
    print(f"  ... of the JSON requests: {json_share:.1%}")
    print(f"  JSON requests answered with valid JSON: {counts['valid_at_client']} of {counts['json']}")
    print(f"  streams ended with an error event (invalid after content went out): {counts['stream_errors']}")


def _content(raw: str, stream: bool) -> str | None:
    if not stream:
        return str(json.loads(raw)["choices"][0]["message"]["content"])
    text = ""
    for line in raw.splitlines():
        if not line.startswith("data: ") or line == "data: [DONE]":
            continue
        data = json.loads(line[6:])
        if "error" in data:
            return None
        for choice in data.get("choices") or []:
            text += (choice.get("delta") or {}).get("content") or ""
    return text


def main() -> None:
    latency()
    asyncio.run(failover_share())


if __name__ == "__main__":
    main()
