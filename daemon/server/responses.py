"""The Responses API endpoints, with the conversation state the stateless providers don't keep.

``POST /v1/responses`` expands ``previous_response_id`` into the whole IR
conversation from the store, relays it like any other format (so any provider
in the chain can answer it), and stores the answer unless ``store`` is false.
The relay is not told about any of this: it gets ``_Stateful``, the Responses
format for this one request, which prepends the history when it decodes the
request and keeps the answer (whole, or assembled from the stream it encodes).

Built-in tools: ``web_search`` goes to a target as its own search tool where it
has one (``Request.web_search``, read by the encoders), and the searches it ran
come back as ``web_search_call`` items (``ir.WebSearchPart``); every other built-in,
and web search at a target without one, is removed. Either way the answer says
what became of them in ``x-detour-adapted`` and an ``adapted`` event
(``routing.adapt.builtin_notes``, written by the relay).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from aiohttp import web

from daemon.formats import openai_responses as fmt
from daemon.formats.base import StreamEncoder
from daemon.formats.openai_responses_items import encode_items, new_id
from daemon.formats.profile import Profile
from daemon.ir import (
    ApiError,
    Message,
    Request,
    Response,
    StreamAssembler,
    StreamEvent,
    StreamStart,
    TextPart,
    invalid,
)
from daemon.ir.tokens import request_tokens
from daemon.responses.store import ResponseStore, Stored
from daemon.server.guard import presented_token
from daemon.server.inbound import GATEWAY, json_body
from daemon.server.relay import relay

STORE = web.AppKey("responses_store", ResponseStore)
routes = web.RouteTableDef()


class _StatefulEncoder:
    """The Responses stream encoder, assembling the answer it writes for the store."""

    def __init__(self, inner: StreamEncoder, owner: _Stateful) -> None:
        self.inner, self.owner = inner, owner
        self.assembler = StreamAssembler()
        self.verbatim = False  # the inner encoder writes no originals

    def feed(self, ev: StreamEvent) -> bytes:
        if isinstance(ev, StreamStart):
            ev = StreamStart(self.owner.resp_id, ev.model, ev.usage)
        self.assembler.feed(ev)
        out = self.inner.feed(ev)
        if self.assembler.finished:
            self.owner.answer = self.assembler.response()
            self.owner.wire = _completed(out)
        return out

    def error(self, err: ApiError) -> bytes:
        return self.inner.error(err)


def _completed(frames: bytes) -> bytes | None:
    """The response object of the last (``response.completed``/``.incomplete``) event."""
    for line in reversed(frames.split(b"\n")):
        if line.startswith(b"data: "):
            event = orjson.loads(line[6:])
            return orjson.dumps(event["response"]) if "response" in event else None
    return None


class _Stateful:
    """``formats.openai_responses`` for one request: history in, answer kept (``WireFormat``)."""

    name = fmt.name

    def __init__(self, history: list[Message]) -> None:
        self.history = history
        self.resp_id = new_id("resp")
        self.request: Request | None = None
        self.answer: Response | None = None
        self.wire: bytes | None = None
        self.input_system: list[TextPart] = []

    def decode_request(self, body: Any, *, model: str | None = None, stream: bool | None = None) -> Request:
        req = fmt.decode_request(body, model=model, stream=stream)
        # Earlier system and developer input is part of the conversation; earlier
        # ``instructions`` are not (OpenAI's rule): only this request's come first.
        history, lead = self.history, []
        if history and history[0].role == "system":
            lead, history = [p for p in history[0].parts if isinstance(p, TextPart)], history[1:]
        own = req.system[1:] if body.get("instructions") else req.system
        self.input_system = [*lead, *own]
        req.system = [*req.system[: len(req.system) - len(own)], *self.input_system]
        req.messages = history + req.messages
        if not req.messages:
            raise invalid("input: required (or a previous_response_id to continue)")
        self.request = req
        return req

    def stored_input(self) -> list[Message]:
        """The conversation this response answered, as the next ``previous_response_id`` continues it."""
        assert self.request is not None
        lead = [Message("system", list(self.input_system))] if self.input_system else []
        return lead + self.request.messages

    def encode_request(self, req: Request, model: str, profile: Profile) -> dict[str, Any]:
        return fmt.encode_request(req, model, profile)

    def error_frame(self, err: ApiError) -> bytes:
        return fmt.error_frame(err)

    def encode_response(self, resp: Response, req: Request) -> dict[str, Any]:
        resp.id = self.resp_id
        out = fmt.encode_response(resp, req)
        self.answer, self.wire = resp, orjson.dumps(out)
        return out

    def stream_decoder(self, req: Request) -> Any:
        return fmt.stream_decoder(req)

    def stream_encoder(self, req: Request) -> StreamEncoder:
        return _StatefulEncoder(fmt.stream_encoder(req), self)

    def encode_error(self, err: ApiError) -> dict[str, Any]:
        return fmt.encode_error(err)

    def decode_error(self, status: int, body: Any, headers: Mapping[str, str]) -> ApiError:
        return fmt.decode_error(status, body, headers)


def _not_found(resp_id: str) -> ApiError:
    return ApiError(404, "not_found", f"Response with id '{resp_id}' not found.", details={"param": "id"})


async def _history(store: ResponseStore, body: dict[str, Any], token: str) -> list[Message]:
    prev = body.get("previous_response_id")
    if prev is None:
        return []
    if not isinstance(prev, str) or not prev:
        raise invalid("previous_response_id: expected a response id string")
    stored = await store.get(prev, token)
    if stored is None:
        err = _not_found(prev)
        err.details = {"param": "previous_response_id"}
        raise err
    return stored.conversation


@routes.post("/v1/responses")
async def create(request: web.Request) -> web.StreamResponse:
    body = await json_body(request)
    store = request.app[STORE]
    token = presented_token(request) or ""
    state = _Stateful(await _history(store, body, token))
    out = await relay(request, request.app[GATEWAY], state, body)
    if body.get("store") is not False and state.request is not None and state.answer is not None:
        answer = Message("assistant", list(state.answer.parts))
        wire = state.wire or orjson.dumps(fmt.encode_response(state.answer, state.request))
        await store.put(state.resp_id, token, state.stored_input(), answer, wire)
    return out


@routes.post("/v1/responses/input_tokens")
async def input_tokens(request: web.Request) -> web.StreamResponse:
    body = await json_body(request)
    history = await _history(request.app[STORE], body, presented_token(request) or "")
    req = _Stateful(history).decode_request({**body, "model": body.get("model") or "count"})
    return web.json_response({"object": "response.input_tokens", "input_tokens": request_tokens(req)})


async def _stored(request: web.Request) -> Stored:
    resp_id = request.match_info["id"]
    stored = await request.app[STORE].get(resp_id, presented_token(request) or "")
    if stored is None:
        raise _not_found(resp_id)
    return stored


@routes.get("/v1/responses/{id}")
async def retrieve(request: web.Request) -> web.StreamResponse:
    stored = await _stored(request)
    return web.Response(body=stored.object, content_type="application/json")


@routes.delete("/v1/responses/{id}")
async def delete(request: web.Request) -> web.StreamResponse:
    resp_id = request.match_info["id"]
    if not await request.app[STORE].delete(resp_id, presented_token(request) or ""):
        raise _not_found(resp_id)
    return web.json_response({"id": resp_id, "object": "response.deleted", "deleted": True})


def _listed(item: dict[str, Any], n: int) -> dict[str, Any]:
    """An input item in the listing's full shape: messages typed, with ids and a status."""
    if "role" in item:
        content = item["content"]
        if isinstance(content, str):
            content = [{"type": "output_text", "text": content, "annotations": []}]
        item = {"type": "message", **item, "content": content, "status": "completed"}
    return {"id": f"item_{n}", **item}


@routes.get("/v1/responses/{id}/input_items")
async def input_items(request: web.Request) -> web.StreamResponse:
    stored = await _stored(request)
    items = [_listed(item, n) for n, item in enumerate(encode_items(stored.input, outbound=False))]
    if request.query.get("order", "desc") == "desc":
        items.reverse()
    data = {"object": "list", "data": items, "has_more": False}
    data |= {"first_id": items[0]["id"] if items else None, "last_id": items[-1]["id"] if items else None}
    return web.json_response(data)
