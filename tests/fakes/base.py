"""Fake upstream providers: real aiohttp servers on 127.0.0.1, port 0.

A test scripts what the upstream answers next (``Answer`` or a fault) and reads
back exactly what it received. Each format's fake (``anthropic.py``,
``openai_chat.py``, ``gemini.py``) renders answers in its wire format by hand,
independent of detour's own translators, and validates requests the way the
real provider does, answering 400 in the provider's error shape otherwise.

A request to continue an answer (continue_on_cut), in whichever form its wire takes it
(a trailing assistant turn, ``"prefix": true``, or the assistant turn followed by
``CONTINUE_INSTRUCTION``), is answered with the rest of the scripted ``Answer``
(``continued``); ``continuations`` records the prefixes given. ``StreamFault(after_chars=N)``
breaks a stream once exactly N characters of answer text and thinking are out.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from daemon.formats.continuation import CONTINUE_INSTRUCTION


@dataclass
class ToolCall:
    name: str
    args: dict[str, Any]
    id: str | None = None  # the fake invents one where its provider would


@dataclass
class Answer:
    """What the fake model says next, in any format."""

    text: str | None = "Hello from the fake upstream."
    tool_calls: list[ToolCall] = field(default_factory=list)
    thinking: str | None = None
    input_tokens: int = 12
    output_tokens: int = 7
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    # Split text into this many stream chunks (at least one).
    chunks: int = 3
    # OpenAI Chat streams only: parallel tool calls' fragments alternate between the calls.
    interleave: bool = False
    # Streaming only: break the stream part-way.
    fault: StreamFault | None = None
    # Non-streaming only: answer with a body that is not JSON.
    malformed: bool = False
    # A structured answer, as a model asked for JSON gives it: the text of the answer, or,
    # when the request forces a tool call, that call's arguments. (Script invalid, truncated
    # or prose answers as ``text``.)
    json: Any = None
    # The model searched the web with its provider's own search tool, for this query, and
    # found these (url, title) pages. Rendered only by fakes whose provider has one (Anthropic,
    # Gemini), and only when the request offered it, as the real ones do.
    web_search: tuple[str, list[tuple[str, str]]] | None = None
    # Set by the fake when it bills this answer: the bill, which a stream cut short revises.
    bill: Bill | None = None
    # Asked to continue an answer (``continued``): first repeat the prefix's last this many
    # characters, as a model told to continue sometimes does.
    repeat_chars: int = 0


def shaped(answer: Answer, forced_tool: str | None) -> Answer:
    """``answer`` with its ``json`` rendered the way the request asked for it."""
    if answer.json is None:
        return answer
    if forced_tool is not None:
        return dataclasses.replace(
            answer, text=None, json=None, tool_calls=[ToolCall(forced_tool, answer.json)]
        )
    return dataclasses.replace(answer, text=json.dumps(answer.json), json=None)


@dataclass
class Fault:
    """A scripted HTTP error answer instead of an answer; ``text``: a plain-text body instead
    of the format's JSON error (a proxy's or a load balancer's page)."""

    status: int = 500
    message: str = "injected failure"
    headers: dict[str, str] = field(default_factory=dict)
    text: str | None = None


class _TextFault(Exception):
    def __init__(self, fault: Fault) -> None:
        self.fault = fault


@dataclass
class StreamFault:
    """Break a streamed answer after ``after_frames`` frames have gone out, or once
    ``after_chars`` characters of answer text and thinking have (the frame that crosses
    that count is cut short, so exactly that many go out).

    cut: close the connection; stall: go silent for ``stall_s``; error: send the
    format's in-band error event (``status`` picks its type); malformed: send a
    frame that is not JSON.
    """

    after_frames: int | None = None
    action: str = "cut"  # cut | stall | error | malformed
    stall_s: float = 30.0
    status: int = 529
    after_chars: int | None = None


@dataclass
class Reset:
    """Drop the connection before any response (a reset, as seen by the client)."""


@dataclass
class Slow:
    """Wait ``seconds`` before answering at all (slow first byte), then give ``then``."""

    seconds: float
    then: Answer | Fault = field(default_factory=lambda: Answer())


@dataclass
class HiddenPrompt:
    """Prompt tokens the provider adds and bills (a chat template, a tool-use system prompt):
    ``per_request`` plus ``ratio`` times the text it got, tokenized at 4 characters a token."""

    per_request: int = 0
    ratio: float = 1.0

    def billed(self, chars: int) -> int:
        return self.per_request + math.ceil(self.ratio * chars / 4)


@dataclass
class Bill:
    """What the fake billed for one answer, on the IR scale.

    The prompt is billed once the fake took it, whether or not anyone reads the answer
    (a caller that gave up waiting for the first byte, or left mid-stream, still pays it);
    an answer cut short bills the output it sent, at ``OUTPUT_CHARS_PER_TOKEN``."""

    model: str
    input_tokens: int
    output_tokens: int
    complete: bool = True


class Mismatch(Exception):
    """A continuation whose prefix is not how the scripted answer starts: detour sent the
    wrong prefix. Each fake answers it 400 in its provider's shape."""


def continued(answer: Answer, prefix: str) -> Answer:
    """What a model asked to continue an answer that starts with ``prefix`` says: the rest
    of the scripted ``answer`` (its text must start with ``prefix``), after the prefix's
    last ``repeat_chars`` characters when it repeats itself, and no thinking (it thought
    before the prefix). Its output is billed in proportion to what it says, its prompt
    has the prefix's tokens added (``PROMPT_CHARS_PER_TOKEN``)."""
    text = answer.text or ""
    if not text.startswith(prefix):
        raise Mismatch(f"continuation prefix {prefix[:60]!r} is not how the answer starts ({text[:60]!r})")
    rest = prefix[len(prefix) - min(answer.repeat_chars, len(prefix)) :] + text[len(prefix) :]
    whole = len(text) + len(answer.thinking or "")
    output = math.ceil(answer.output_tokens * len(rest) / whole) if whole else answer.output_tokens
    return dataclasses.replace(
        answer,
        text=rest or None,
        thinking=None,
        reasoning_tokens=0,
        output_tokens=max(output, 1),
        input_tokens=answer.input_tokens + math.ceil(len(prefix) / PROMPT_CHARS_PER_TOKEN),
    )


def instructed(content: Any) -> bool:
    """Whether a user turn's content (a string, or a list of text parts of any format) is
    detour's instruction to continue the assistant message before it."""
    return _joined(content) == CONTINUE_INSTRUCTION


def _joined(content: Any) -> str | None:
    """The text of a message's content: a string, or the text of its list of text parts."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list) or not content:
        return None
    texts = [p.get("text") for p in content if isinstance(p, dict)]
    if len(texts) != len(content) or not all(isinstance(t, str) for t in texts):
        return None
    return "".join(texts)


# Set on a request whose caller hung up during a slow first byte.
ABANDONED = web.RequestKey("abandoned", bool)
# How the fakes tokenize output they sent before a stream was cut short.
OUTPUT_CHARS_PER_TOKEN = 3
# How they tokenize a continuation's prefix, billed on top of the scripted prompt.
PROMPT_CHARS_PER_TOKEN = 4


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: Any
    query: dict[str, str]


class FakeUpstream:
    """Base class: owns the server, the script and the record of requests."""

    def __init__(self) -> None:
        self.script: deque[Answer | Fault | Reset | Slow] = deque()
        self.received: list[Received] = []
        self.default = Answer()
        # When set, every answer bills its prompt by this instead of ``Answer.input_tokens``.
        self.hidden: HiddenPrompt | None = None
        self.bills: list[Bill] = []
        # When set, every error this fake sends (an HTTP error body, an in-band error) carries
        # this secret in every string and as an extra field of every object: a provider that
        # echoes the key it was sent, as some do in ``param`` or ``details``.
        self.echo: str | None = None
        self.in_flight = 0
        # The prefixes of the continuation requests this fake answered, in order.
        self.continuations: list[str] = []
        self._runner: web.AppRunner | None = None
        self.port = 0

    def routes(self) -> list[web.RouteDef]:
        raise NotImplementedError

    def next_reply(self) -> Answer | Fault | Reset | Slow:
        return self.script.popleft() if self.script else self.default

    async def take_reply(self, request: web.Request) -> Answer | Fault:
        """The next scripted reply, after acting out transport faults (reset, slow first byte).

        A caller that gave up during a slow first byte is marked ``abandoned`` on the request:
        the answer is then billed its prompt alone (``send_frames``)."""
        reply = self.next_reply()
        if isinstance(reply, Slow):
            if not await still_there(request, reply.seconds):
                request[ABANDONED] = True
            return reply.then
        if isinstance(reply, Reset):
            assert request.transport is not None
            request.transport.abort()
            raise asyncio.CancelledError
        if isinstance(reply, Fault) and reply.text is not None:
            raise _TextFault(reply)
        return reply

    def billed(self, answer: Answer, prompt_chars: int, model: str) -> Answer:
        """``answer`` with the prompt tokens this fake bills for it, recorded in ``bills``."""
        if self.hidden is not None:
            answer = dataclasses.replace(answer, input_tokens=self.hidden.billed(prompt_chars))
        bill = Bill(model, answer.input_tokens, answer.output_tokens)
        self.bills.append(bill)
        return dataclasses.replace(answer, bill=bill)

    def counted(self, prompt_chars: int) -> int:
        """What the count endpoint answers: exactly what the next answer will bill."""
        if self.hidden is not None:
            return self.hidden.billed(prompt_chars)
        upcoming = next((r for r in self.script if isinstance(r, Answer)), self.default)
        return upcoming.input_tokens

    def inband_error(self, status: int) -> bytes:
        """This format's in-band stream error frame (formats override)."""
        raise NotImplementedError

    def answer_spots(self, data: Any) -> list[tuple[dict[str, Any], str]]:
        """Where one of this format's stream frames (its JSON) carries answer text or
        thinking: (object, key) pairs, in the order they are read (formats override)."""
        raise NotImplementedError

    def continuing(self, answer: Answer, prefix: str | None) -> Answer:
        """``answer``, or when the request asked to continue one starting with ``prefix``,
        its rest (``continued``; raises ``Mismatch``)."""
        if prefix is None:
            return answer
        rest = continued(answer, prefix)
        self.continuations.append(prefix)
        return rest

    def _answer_chars(self, frame: bytes) -> int:
        data = _frame_data(frame)
        return sum(len(obj[key]) for obj, key in self.answer_spots(data)) if data is not None else 0

    def _split(self, frame: bytes, keep: int) -> tuple[bytes, bytes]:
        """``frame`` as two: one with its first ``keep`` characters of answer, one with the rest."""
        halves = []
        for first in (True, False):
            data, left = _frame_data(frame), keep
            for obj, key in self.answer_spots(data):
                text = obj[key]
                obj[key] = text[:left] if first else text[left:]
                left = max(0, left - len(text))
            lines = frame.split(b"\n")
            for i, line in enumerate(lines):
                if line.startswith(b"data:"):
                    end = b"\r" if line.endswith(b"\r") else b""
                    lines[i] = b"data: " + json.dumps(data).encode() + end
            halves.append(b"\n".join(lines))
        return halves[0], halves[1]

    async def _break(self, request: web.Request, resp: web.StreamResponse, fault: StreamFault) -> bool:
        """Act out ``fault``; True when the stream ends there, False when it goes on (a stall
        the caller sat through)."""
        if fault.action == "cut":
            assert request.transport is not None
            request.transport.abort()
        elif fault.action == "stall":
            return not await still_there(request, fault.stall_s)
        elif fault.action == "error":
            error = self.inband_error(fault.status)
            await resp.write(error if self.echo is None else echoed_frame(error, self.echo))
        elif fault.action == "malformed":
            await resp.write(b"data: {this is not json\n\n")
        return True

    async def send_frames(
        self, request: web.Request, frames: list[bytes], answer: Answer
    ) -> web.StreamResponse:
        """Write SSE frames one by one, acting out ``answer.fault`` on the way. A stream that
        does not reach its end bills the prompt and the answer text sent so far."""
        resp = web.StreamResponse(headers={"content-type": "text/event-stream", "cache-control": "no-cache"})
        sent, done = 0, False
        try:
            if request.get(ABANDONED):
                return resp
            await resp.prepare(request)
            fault = answer.fault
            shown = 0  # characters of answer text and thinking out, for ``after_chars``
            for i, fr in enumerate(frames):
                if fault is not None and fault.after_chars is not None:
                    n = self._answer_chars(fr)
                    left = fault.after_chars - shown
                    crossing = 0 < left < n
                    # Once N are out, the next frame breaks (for N = 0, the first with answer in it).
                    if crossing or (left <= 0 and (n > 0 or fault.after_chars > 0)):
                        head, fr = self._split(fr, left) if crossing else (b"", fr)
                        if head:
                            await resp.write(head)
                            sent += text_chars(head)
                        if await self._break(request, resp, fault):
                            return resp
                        fault = None  # a stall sat through: the rest goes out
                    shown += n
                elif (
                    fault is not None and i == fault.after_frames and await self._break(request, resp, fault)
                ):
                    return resp
                await resp.write(fr)
                sent += text_chars(fr)
            await resp.write_eof()
            done = True
            return resp
        finally:
            if not done and answer.bill is not None:
                answer.bill.output_tokens = math.ceil(sent / OUTPUT_CHARS_PER_TOKEN)
                answer.bill.complete = False

    async def record(self, request: web.Request) -> Any:
        body = await request.json()
        self.received.append(Received(request.path, dict(request.headers), body, dict(request.query)))
        return body

    @web.middleware
    async def _counted(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Counts the requests still being answered (``in_flight``): a bill is final once
        the handler that wrote it has returned."""
        self.in_flight += 1
        try:
            return await handler(request)
        finally:
            self.in_flight -= 1

    @property
    def last(self) -> Received:
        return self.received[-1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> FakeUpstream:
        app = web.Application(client_max_size=64 * 1024 * 1024, middlewares=[self._counted, self._errors])
        app.add_routes(self.routes())
        # A scripted stall must not hold up the test's teardown for aiohttp's default minute.
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert isinstance(server, asyncio.base_events.Server)
        self.port = server.sockets[0].getsockname()[1]
        return self

    @web.middleware
    async def _errors(self, request: web.Request, handler: Any) -> web.StreamResponse:
        """Plain-text faults, and ``echo`` put into every JSON error body."""
        try:
            resp: web.StreamResponse = await handler(request)
        except _TextFault as e:
            return web.Response(status=e.fault.status, text=e.fault.text, headers=e.fault.headers)
        if self.echo is None or resp.status < 400 or not isinstance(resp, web.Response) or not resp.body:
            return resp
        assert isinstance(resp.body, bytes)
        body = echoing(json.loads(resp.body), self.echo)
        kept = {k: v for k, v in resp.headers.items() if k.lower() not in ("content-type", "content-length")}
        return web.json_response(body, status=resp.status, headers=kept)

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


async def still_there(request: web.Request, seconds: float) -> bool:
    """Wait ``seconds``; False as soon as the caller has hung up."""
    loop = asyncio.get_running_loop()
    until = loop.time() + seconds
    while (left := until - loop.time()) > 0:
        if request.transport is None or request.transport.is_closing():
            return False
        await asyncio.sleep(min(left, 0.01))
    return request.transport is not None and not request.transport.is_closing()


def _frame_data(frame: bytes) -> Any:
    """The JSON of an SSE frame's ``data:`` line; None when it has none (or not JSON)."""
    for line in frame.split(b"\n"):
        if line.startswith(b"data:"):
            with contextlib.suppress(ValueError):
                return json.loads(line[5:])
    return None


def text_chars(frame: bytes) -> int:
    """Characters of answer text in one SSE frame of any format (Anthropic ``text``, Chat
    ``content``, Gemini parts' ``text``, Responses ``delta``)."""
    total = 0
    for line in frame.split(b"\n"):
        if line.startswith(b"data:"):
            with contextlib.suppress(ValueError):
                total += _text_in(json.loads(line[5:]))
    return total


def _text_in(obj: Any) -> int:
    if isinstance(obj, dict):
        return sum(
            len(v) if k in ("text", "content", "delta") and isinstance(v, str) else _text_in(v)
            for k, v in obj.items()
        )
    if isinstance(obj, list):
        return sum(_text_in(v) for v in obj)
    return 0


def split_text(text: str, n: int) -> list[str]:
    """Split text into n non-empty pieces (fewer if the text is shorter)."""
    n = max(1, min(n, len(text)))
    step = -(-len(text) // n)
    return [text[i : i + step] for i in range(0, len(text), step)] or [""]


# Fields that say what an error is, kept as they are so it is still classified as one.
_SHAPE = frozenset({"type", "status", "@type", "event"})


def echoing(body: Any, secret: str) -> Any:
    """``body`` with ``secret`` in every string and as a field (name and value) of every object."""
    if isinstance(body, str):
        return f"{body} {secret}"
    if isinstance(body, list):
        return [*(echoing(x, secret) for x in body), secret]
    if isinstance(body, dict):
        out = {k: v if k in _SHAPE else echoing(v, secret) for k, v in body.items()}
        details = out.get("details", {"param": secret, secret: [secret]})
        return {**out, "param": secret, "details": details, secret: [secret, {"details": secret}]}
    return body


def echoed_frame(raw: bytes, secret: str) -> bytes:
    """An in-band error frame (SSE ``data:`` lines, or Gemini's bare JSON) with ``secret`` echoed."""
    try:
        return json.dumps(echoing(json.loads(raw), secret)).encode() + b"\n"
    except ValueError:
        pass
    lines = raw.split(b"\n")
    for i, line in enumerate(lines):
        if line.startswith(b"data: "):
            lines[i] = b"data: " + json.dumps(echoing(json.loads(line[6:]), secret)).encode()
    return b"\n".join(lines)
