"""An answer cut mid-stream is finished by the next target (``continue_on_cut``), with the
official SDKs as clients.

One world for the module: the fault world's providers, and for every ordered pair of
upstream formats a route ``cont-<a>-then-<b>`` with ``continue_on_cut = true``. The
primary's stream is cut after 40 characters of text (a reset, or the format's in-band
error); the fallback's fake answers the continuation request (its wire's form of "go on
from here") with the scripted answer minus the prefix it was given. Every client format
(OpenAI Chat, OpenAI Responses, Anthropic, Gemini), streaming and not, must assemble the
whole answer exactly.
"""

from __future__ import annotations

import itertools
import json
import logging
import sqlite3
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import openai
import pytest
import pytest_asyncio
from google.genai import types as gtypes

from daemon.server.observe import BUS
from daemon.telemetry.schema import Event
from tests.daemon_harness import Daemon
from tests.e2e import faults
from tests.e2e.clients import CLIENTS, WEATHER_TOOL, Client
from tests.e2e.conftest import MODEL, open_world, sdk_clients
from tests.e2e.faults import FORMATS, target
from tests.fakes.base import Answer, FakeUpstream, Fault, Slow, StreamFault, ToolCall
from tests.wait import until

pytestmark = pytest.mark.asyncio(loop_scope="module")

WHOLE = "The quick brown fox jumps over the lazy dog, then naps in the warm afternoon sun by the river."
CUT_AT = 40  # the cut falls just after a space: Anthropic's prefill is sent right-stripped
PROMPT = "Tell me about the fox."
LEDGER = "ledger-gemini-then-openai"  # a route of its own: its ledger rows are this test's
PAIRS = list(itertools.permutations(FORMATS, 2))
CLIENT_FORMATS = [*CLIENTS, "responses"]
# The failures of every route stay below what would eject its primary: each case sees a fresh walk.
EXTRA = "\n[routing.health]\nconsecutive_failures = 1000000\nminimum_requests = 1000000\n"


def route(a: str, b: str) -> str:
    return f"cont-{a}-then-{b}"


def config(fakes: dict[str, FakeUpstream]) -> str:
    lines = [faults.config(fakes), ""]
    for a, b in PAIRS:
        lines += ["[[routes]]", f'name = "{route(a, b)}"', f'chain = ["{target(a)}", "{target(b)}"]']
        lines += ["continue_on_cut = true", ""]
    lines += ["[[routes]]", f'name = "{LEDGER}"', f'chain = ["{target("gemini")}", "{target("openai")}"]']
    return "\n".join([*lines, "continue_on_cut = true", ""])


@dataclass
class ContWorld:
    daemon: Daemon
    fakes: dict[str, FakeUpstream]
    open_client: Callable[[str], Client]
    responses: openai.AsyncOpenAI
    events: list[Event] = field(default_factory=list)
    clients: dict[str, Client] = field(default_factory=dict)

    def client(self, name: str) -> Client:
        if name not in self.clients:
            self.clients[name] = self.open_client(name)
        return self.clients[name]

    async def ask(self, client: str, model: str, stream: bool, prompt: str = PROMPT) -> str:
        """The answer's text as the client's SDK assembled it."""
        if client != "responses":
            return (await self.client(client).text(model, prompt, stream)).text
        if stream:
            async with self.responses.responses.stream(model=model, input=prompt) as s:
                async for _ in s:
                    pass
                return (await s.get_final_response()).output_text
        return (await self.responses.responses.create(model=model, input=prompt)).output_text

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [dict(e) for e in self.events if e["type"] == kind]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def cw() -> AsyncIterator[ContWorld]:
    with pytest.MonkeyPatch.context() as mp:
        async with open_world(mp, EXTRA, config) as w, sdk_clients(w.daemon) as open_client:
            responses = openai.AsyncOpenAI(
                base_url=w.daemon.url + "/v1", api_key=w.daemon.token, max_retries=0
            )
            world = ContWorld(w.daemon, w.fakes, open_client, responses)
            w.daemon.runner.app[BUS].listen(world.events.append)
            try:
                yield world
            finally:
                await responses.close()


@pytest.fixture(autouse=True)
def fresh(cw: ContWorld) -> None:
    for fake in cw.fakes.values():
        fake.script.clear()
        fake.received.clear()
    cw.events.clear()


def assistant_prefix(fmt: str, body: dict[str, Any]) -> str:
    """The text of the trailing assistant (Gemini: model) turn the fallback was given."""
    if fmt == "gemini":
        turns = [c for c in body["contents"] if c.get("role") == "model"]
        return "".join(p.get("text", "") for p in turns[-1]["parts"])
    turns = [m for m in body["messages"] if m["role"] == "assistant"]
    content = turns[-1]["content"]
    if isinstance(content, str):
        return content
    return "".join(b.get("text", "") for b in content)


def finished_response(cw: ContWorld) -> dict[str, Any]:
    (response,) = cw.of("response")
    return response


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize("action", ["cut", "error"])
@pytest.mark.parametrize(("primary", "fallback"), PAIRS, ids=[f"{a}-{b}" for a, b in PAIRS])
@pytest.mark.parametrize("client", CLIENT_FORMATS)
async def test_a_cut_answer_is_finished_by_the_fallback(
    cw: ContWorld, client: str, primary: str, fallback: str, action: str, stream: bool
) -> None:
    a, b = cw.fakes[primary], cw.fakes[fallback]
    a.script.append(Answer(WHOLE, chunks=8, fault=StreamFault(after_chars=CUT_AT, action=action)))
    b.script.append(Answer(WHOLE, chunks=8))
    assert await cw.ask(client, route(primary, fallback), stream) == WHOLE
    (to_b,) = b.received
    assert assistant_prefix(fallback, to_b.body).rstrip() == WHOLE[:CUT_AT].rstrip()
    await until(lambda: cw.of("response") or None, "the response event")
    (continued,) = cw.of("continued")
    assert continued["from"] == f"up-{primary}/{MODEL[primary]}"
    assert continued["to"] == f"up-{fallback}/{MODEL[fallback]}"
    assert continued["chars"] == CUT_AT
    response = finished_response(cw)
    assert response["status"] == 200 and response["target"] == continued["to"]
    assert response["continued"]["from"] == continued["from"] and response["continued"]["chars"] == CUT_AT
    attempts = response["attempts"].split(",")
    assert len(attempts) == 2 and attempts[1] == f"{continued['to']}:ok"


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
async def test_no_target_able_to_continue_ends_with_the_cut(cw: ContWorld, stream: bool) -> None:
    a, b = cw.fakes["gemini"], cw.fakes["anthropic"]
    a.script.append(Answer(WHOLE, chunks=8, fault=StreamFault(after_chars=CUT_AT, action="cut")))
    b.script.append(Fault(500, "fallback down"))
    a.script.append(Fault(500, "primary down too"))  # the cut target is tried last
    with pytest.raises(openai.APIError) as raised:
        await cw.ask("openai", route("gemini", "anthropic"), stream)
    assert "stream" in str(raised.value).lower() or getattr(raised.value, "status_code", None) == 502
    await until(lambda: cw.of("response") or None, "the response event")
    assert cw.of("continued") == [] and "continued" not in finished_response(cw)
    assert len(a.received) == 2 and len(b.received) == 1


@pytest.mark.parametrize("action", ["stall", "malformed"])
@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
async def test_a_stall_or_a_malformed_frame_is_continued_too(
    cw: ContWorld, action: str, stream: bool
) -> None:
    a, b = cw.fakes["openai"], cw.fakes["gemini"]
    fault = StreamFault(after_chars=CUT_AT, action=action, stall_s=faults.HANG_S)
    a.script.append(Answer(WHOLE, chunks=8, fault=fault))
    b.script.append(Answer(WHOLE, chunks=8))
    assert await cw.ask("anthropic", route("openai", "gemini"), stream) == WHOLE
    await until(lambda: cw.of("response") or None, "the response event")
    (continued,) = cw.of("continued")
    assert continued["reason"] == ("timeout" if action == "stall" else "broken_stream")


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize("client", CLIENT_FORMATS)
async def test_an_overlap_the_fallback_repeats_is_trimmed(cw: ContWorld, client: str, stream: bool) -> None:
    a, b = cw.fakes["anthropic"], cw.fakes["openai"]
    a.script.append(Answer(WHOLE, chunks=8, fault=StreamFault(after_chars=CUT_AT, action="cut")))
    b.script.append(Answer(WHOLE, chunks=8, repeat_chars=12))
    assert await cw.ask(client, route("anthropic", "openai"), stream) == WHOLE


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
async def test_without_continue_on_cut_the_cut_ends_as_before(cw: ContWorld, stream: bool) -> None:
    a, b = cw.fakes["anthropic"], cw.fakes["openai"]
    a.script.append(Answer(WHOLE, chunks=8, fault=StreamFault(after_chars=CUT_AT, action="cut")))
    b.script.append(Answer("A whole other answer."))
    if stream:
        with pytest.raises(openai.APIError):  # the SDK raises on the stream's error event
            await cw.ask("openai", "anthropic-then-openai", stream)
        assert b.received == []
    else:  # a whole answer is retried whole at the fallback, from the start
        assert await cw.ask("openai", "anthropic-then-openai", stream) == "A whole other answer."
        assert "assistant" not in [m["role"] for m in b.last.body["messages"]]
    await until(lambda: cw.of("response") or None, "the response event")
    assert cw.of("continued") == [] and "continued" not in finished_response(cw)


CALL = ToolCall("get_weather", {"city": "Paris"}, id="call_w1")
CALL2 = ToolCall("get_weather", {"city": "Lyon"}, id="call_w2")
# The fake OpenAI's frames: role, the text (one chunk), the call's start, its arguments in three.
INSIDE_THE_CALL = 4


async def ask_with_tools(cw: ContWorld, client: str, model: str, stream: bool) -> tuple[str, list[Any]]:
    if client == "responses":
        tool = {"type": "function", **WEATHER_TOOL}
        resp = await cw.responses.responses.create(model=model, input=PROMPT, tools=[tool])  # type: ignore[list-item]
        calls = [(o.name, json.loads(o.arguments)) for o in resp.output if o.type == "function_call"]
        return resp.output_text, calls
    reply = await cw.client(client).ask(model, *_turn(client), stream, True)
    return reply.text, [(c.name, c.args) for c in reply.calls]


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize("client", CLIENT_FORMATS)
async def test_a_cut_inside_an_unseen_tool_call_gets_the_call_whole_once(
    cw: ContWorld, client: str, stream: bool
) -> None:
    a, b = cw.fakes["openai"], cw.fakes["anthropic"]
    fault = StreamFault(after_frames=INSIDE_THE_CALL, action="cut")
    a.script.append(Answer("Let me check.", tool_calls=[CALL], chunks=1, fault=fault))
    b.script.append(Answer("Let me check.", tool_calls=[CALL]))
    text, calls = await ask_with_tools(cw, client, route("openai", "anthropic"), stream)
    assert text == "Let me check." and calls == [("get_weather", {"city": "Paris"})]
    assert assistant_prefix("anthropic", b.last.body) == "Let me check."


@pytest.mark.parametrize("client", list(CLIENTS))
async def test_a_cut_after_a_tool_call_reached_the_client_ends_with_an_error(
    cw: ContWorld, client: str
) -> None:
    a, b = cw.fakes["anthropic"], cw.fakes["openai"]
    # The fake Anthropic's frames: start, ping, the first call whole (start, four deltas, stop),
    # the second call's start and first delta, then the cut.
    a.script.append(Answer(None, tool_calls=[CALL, CALL2], fault=StreamFault(after_frames=10, action="cut")))
    with pytest.raises(Exception) as raised:  # noqa: B017 - each SDK has its own error class
        await cw.client(client).ask(route("anthropic", "openai"), *_turn(client), True, True)
    assert type(raised.value).__module__.split(".")[0] in ("openai", "anthropic", "google")
    assert b.received == []
    await until(lambda: cw.of("response") or None, "the response event")
    assert cw.of("continued") == [] and finished_response(cw)["status"] != 200


def _turn(client: str) -> tuple[Any]:
    """The one user turn, as the client's SDK takes it."""
    if client == "gemini":
        return ([gtypes.Content(role="user", parts=[gtypes.Part(text=PROMPT)])],)
    return ([{"role": "user", "content": PROMPT}],)


async def test_both_parts_are_in_the_ledger(cw: ContWorld) -> None:
    assert cw.daemon.data_dir is not None
    path = cw.daemon.data_dir / "detour.db"

    def ledger() -> list[sqlite3.Row]:
        db = sqlite3.connect(path)
        db.row_factory = sqlite3.Row
        try:
            return db.execute("SELECT * FROM attempts WHERE route = ? ORDER BY id", (LEDGER,)).fetchall()
        finally:
            db.close()

    a, b = cw.fakes["gemini"], cw.fakes["openai"]
    a.script.append(Answer(WHOLE, chunks=8, fault=StreamFault(after_chars=CUT_AT, action="cut")))
    b.script.append(Answer(WHOLE, chunks=8, input_tokens=40, output_tokens=30))
    assert await cw.ask("anthropic", LEDGER, True) == WHOLE

    def settled() -> list[sqlite3.Row] | None:
        found = ledger()
        return found if len(found) == 2 and all(r["state"] == "settled" for r in found) else None

    cut, cont = await until(settled, "settled both parts")
    assert (cut["provider"], cut["model"]) == ("up-gemini", MODEL["gemini"])
    assert (cont["provider"], cont["model"]) == ("up-openai", MODEL["openai"])
    assert cut["usd"] > 0 and cont["usd"] > 0  # the cut part paid its prompt and what it sent
    await until(lambda: cw.of("response") or None, "the response event")
    response = finished_response(cw)
    assert response["cost_usd"] == pytest.approx(cut["usd"] + cont["usd"], abs=1e-7)
    continued = response["continued"]
    assert continued["cost_usd"] == pytest.approx(cont["usd"], abs=1e-7)
    assert continued["retry_usd"] > continued["cost_usd"]  # the whole answer would have cost more


async def test_a_client_gone_during_the_continuation_is_no_error(
    cw: ContWorld, caplog: pytest.LogCaptureFixture
) -> None:
    """The client hangs up while the fallback is still thinking: nothing is logged as an
    error of detour's, and both parts are still settled once."""
    a, b = cw.fakes["openai"], cw.fakes["anthropic"]
    a.script.append(Answer(WHOLE, chunks=8, fault=StreamFault(after_chars=CUT_AT, action="cut")))
    b.script.append(Slow(0.3, Answer(WHOLE, chunks=8)))
    body = {
        "model": route("openai", "anthropic"),
        "stream": True,
        "messages": [{"role": "user", "content": PROMPT}],
    }
    async with aiohttp.ClientSession() as http:
        async with http.post(
            f"{cw.daemon.url}/v1/chat/completions", json=body, headers=cw.daemon.auth()
        ) as r:
            seen = ""
            async for line in r.content:
                if line.startswith(b"data: {"):
                    chunk = json.loads(line[6:])
                    seen += "".join(c["delta"].get("content") or "" for c in chunk["choices"])
                if len(seen) >= CUT_AT:
                    break  # and leave: the continuation is still to come
    assert seen == WHOLE[:CUT_AT]
    await until(lambda: cw.of("response") or None, "the response event")
    assert finished_response(cw)["error"] == "client_gone"
    assert len(b.received) == 1  # the continuation was asked for
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
