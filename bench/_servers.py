"""Servers the benchmarks start as separate processes, so each has its own event loop.

python bench/_servers.py upstream PORT      a fixed OpenAI chat completion, as fast as aiohttp goes
python bench/_servers.py passthrough PORT UPSTREAM_PORT
                                            the bare aiohttp pass-through: the baseline proxy
python bench/_servers.py unbudgeted PORT CONFIG DATA_DIR
                                            detour as `serve` runs it, but with no spend tracking
                                            at all (no ledger, no reservations): the budget
                                            benchmark's baseline; not a mode the product offers
python bench/_servers.py subscribers PORT N TOKEN
                                            N clients reading detour's /events, opened and
                                            closed on command ("on", "off" on stdin)
python bench/_servers.py refuse PORT STATUS RETRY_AFTER
                                            an OpenAI error answer (429, 500...) at once, with
                                            that retry-after ("-" for none)
"""

from __future__ import annotations

import asyncio
import sys
import time

import aiohttp
import orjson
from aiohttp import web

ANSWER = orjson.dumps(
    {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": "gpt-4.1",
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "message": {
                    "role": "assistant",
                    "content": "Hello from the bench upstream.",
                    "refusal": None,
                },
            }
        ],
        "usage": {"prompt_tokens": 20, "completion_tokens": 7, "total_tokens": 27},
    }
)


async def _answer(request: web.Request) -> web.Response:
    await request.read()
    return web.Response(body=ANSWER, content_type="application/json")


def upstream(port: int) -> None:
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_post("/v1/chat/completions", _answer)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


def refuse(port: int, status: int, retry_after: str) -> None:
    etype = "rate_limit_error" if status == 429 else "server_error"
    body = orjson.dumps({"error": {"message": f"bench {status}", "type": etype, "param": None, "code": None}})
    headers = {} if retry_after == "-" else {"retry-after": retry_after}

    async def answer(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(body=body, status=status, content_type="application/json", headers=headers)

    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_post("/v1/chat/completions", answer)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


def passthrough(port: int, upstream_port: int) -> None:
    target = f"http://127.0.0.1:{upstream_port}/v1/chat/completions"
    session_key = web.AppKey("session", aiohttp.ClientSession)

    async def forward(request: web.Request) -> web.Response:
        body = await request.read()
        async with request.app[session_key].post(
            target, data=body, headers={"content-type": "application/json"}
        ) as r:
            return web.Response(body=await r.read(), status=r.status, content_type="application/json")

    async def session(app: web.Application):  # type: ignore[no-untyped-def]
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as s:
            app[session_key] = s
            yield

    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.cleanup_ctx.append(session)
    app.router.add_post("/v1/chat/completions", forward)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


def unbudgeted(port: int, config_path: str, data_dir: str) -> None:
    from pathlib import Path

    from daemon.config import load
    from daemon.server.app import create_app
    from daemon.server.inbound import GATEWAY

    app = create_app(load(Path(config_path)), "dtr-bench-token", Path(data_dir))

    async def without_spend(app: web.Application) -> None:
        # Runs after the cleanup contexts have built the gateway.
        app[GATEWAY].chain.spend = None

    app.on_startup.append(without_spend)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


async def _subscriber(
    session: aiohttp.ClientSession, url: str, ready: asyncio.Event, received: list[int], i: int
) -> None:
    async with session.get(url) as r:
        assert r.status == 200, r.status
        await r.content.readline()  # the opening comment: subscribed
        ready.set()
        async for chunk in r.content.iter_any():
            received[i] += chunk.count(b"data: ")


async def _subscribers(port: int, n: int, token: str) -> None:
    """Reads commands on stdin: "on" opens n /events streams (answers "ready" once all are
    subscribed), "off" closes them (answers how many events each got); EOF ends."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    url = f"http://127.0.0.1:{port}/events"
    headers = {"Authorization": f"Bearer {token}"}
    tasks: list[asyncio.Task[None]] = []
    received: list[int] = []
    async with aiohttp.ClientSession(headers=headers, connector=aiohttp.TCPConnector(limit=0)) as session:
        while command := (await reader.readline()).strip():
            if command == b"on":
                received = [0] * n
                ready = [asyncio.Event() for _ in range(n)]
                tasks = [
                    asyncio.create_task(_subscriber(session, url, ready[i], received, i), name=f"sub-{i}")
                    for i in range(n)
                ]
                await asyncio.gather(*(r.wait() for r in ready))
                print("ready", flush=True)
            elif command == b"off":
                await asyncio.sleep(0.2)  # the last batch
                for t in tasks:
                    t.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                print(" ".join(map(str, received)) or "0", flush=True)


def subscribers(port: int, n: int, token: str) -> None:
    asyncio.run(_subscribers(port, n, token))


if __name__ == "__main__":
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    if sys.argv[1] == "upstream":
        upstream(int(sys.argv[2]))
    elif sys.argv[1] == "unbudgeted":
        unbudgeted(int(sys.argv[2]), sys.argv[3], sys.argv[4])
    elif sys.argv[1] == "subscribers":
        subscribers(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
    elif sys.argv[1] == "refuse":
        refuse(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
    else:
        passthrough(int(sys.argv[2]), int(sys.argv[3]))
