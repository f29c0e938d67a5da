"""Servers the benchmarks start as separate processes, so each has its own event loop.

python bench/_servers.py upstream PORT      a fixed OpenAI chat completion, as fast as aiohttp goes
                                            (asked for a stream: max_tokens content chunks, then
                                            the finish chunk with usage, then [DONE])
python bench/_servers.py floor PORT UPSTREAM_PORT
                                            the least a relay can do, on any path: a stream
                                            request's bytes relayed as they come; a request for
                                            one body sent upstream as a stream, its text joined
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


def _chunk(delta: dict[str, object], finish: str | None = None, usage: object = None) -> bytes:
    choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
    body = {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 1765000000,
            "model": "gpt-4.1", "choices": [choice]}  # fmt: skip
    if usage is not None:
        body["usage"] = usage
    return b"data: " + orjson.dumps(body) + b"\n\n"


def stream_frames(tokens: int) -> list[bytes]:
    """An answer of ``tokens`` one-word chunks (the first with the role), then the finish
    chunk carrying usage: ``tokens + 1`` frames, then ``[DONE]``, each written on its own."""
    words = [_chunk({"role": "assistant", "content": "Hello"})]
    words += [_chunk({"content": f" w{i}"}) for i in range(1, tokens)]
    usage = {"prompt_tokens": 20, "completion_tokens": tokens, "total_tokens": 20 + tokens}
    return [*words, _chunk({}, "stop", usage), b"data: [DONE]\n\n"]


_FRAMES: dict[int, list[bytes]] = {}


async def _answer(request: web.Request) -> web.StreamResponse:
    body = orjson.loads(await request.read())
    if not body.get("stream"):
        return web.Response(body=ANSWER, content_type="application/json")
    tokens = int(body.get("max_tokens") or body.get("max_completion_tokens") or 64)
    frames = _FRAMES.get(tokens) or _FRAMES.setdefault(tokens, stream_frames(tokens))
    out = web.StreamResponse(headers={"content-type": "text/event-stream"})
    await out.prepare(request)
    for f in frames:
        await out.write(f)
    await out.write_eof()
    return out


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


def floor(port: int, upstream_port: int) -> None:
    target = f"http://127.0.0.1:{upstream_port}/v1/chat/completions"
    session_key = web.AppKey("session", aiohttp.ClientSession)
    headers = {"content-type": "application/json"}

    async def forward(request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        body = orjson.loads(raw)
        session = request.app[session_key]
        if body.get("stream"):
            async with session.post(target, data=raw, headers=headers) as r:
                out = web.StreamResponse(status=r.status, headers={"content-type": "text/event-stream"})
                await out.prepare(request)
                async for chunk in r.content.iter_any():
                    await out.write(chunk)
                await out.write_eof()
                return out
        body["stream"] = True
        text: list[str] = []
        async with session.post(target, data=orjson.dumps(body), headers=headers) as r:
            buf = b""
            async for chunk in r.content.iter_any():
                *lines, buf = (buf + chunk).split(b"\n")
                for line in lines:
                    if line.startswith(b"data: {"):
                        for choice in orjson.loads(line[6:])["choices"]:
                            text.append(choice["delta"].get("content") or "")
        answer = {"id": "chatcmpl-floor", "object": "chat.completion", "model": "gpt-4.1",
                  "choices": [{"index": 0, "finish_reason": "stop",
                               "message": {"role": "assistant", "content": "".join(text)}}]}  # fmt: skip
        return web.Response(body=orjson.dumps(answer), content_type="application/json")

    async def session(app: web.Application):  # type: ignore[no-untyped-def]
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as s:
            app[session_key] = s
            yield

    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.cleanup_ctx.append(session)
    app.router.add_post("/{path:.*}", forward)
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
    elif sys.argv[1] == "floor":
        floor(int(sys.argv[2]), int(sys.argv[3]))
    elif sys.argv[1] == "refuse":
        refuse(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
    else:
        raise SystemExit(__doc__)
