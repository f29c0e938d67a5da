"""A search the provider ran itself (``WebSearchPart``), dict in and dict out in every format:
decoded from Anthropic's server tool blocks and Gemini's grounding, sent as a Responses
``web_search_call``, given back verbatim to Anthropic only, left out (text kept) elsewhere."""

from __future__ import annotations

import copy
from typing import Any

import orjson

from daemon.formats import anthropic, gemini, openai_chat, openai_responses
from daemon.formats.sse import SSEParser
from daemon.ir import (
    Message,
    Opaque,
    PartEnd,
    PartStart,
    Request,
    Response,
    TextPart,
    WebSearchPart,
    WebSource,
)
from daemon.providers import reasoning
from daemon.providers.profiles import profile_of
from daemon.responses.codec import part_from_json, part_to_json
from tests.formats.anthropic.samples import assemble
from tests.formats.whole import decode as decode_whole
from tests.formats.whole import events as whole_events

USE = {
    "type": "server_tool_use",
    "id": "srvtoolu_01",
    "name": "web_search",
    "input": {"query": "tides Brest"},
}
RESULT = {
    "type": "web_search_tool_result",
    "tool_use_id": "srvtoolu_01",
    "content": [
        {
            "type": "web_search_result",
            "url": "https://a.example/t",
            "title": "Tides",
            "encrypted_content": "EqA1",
            "page_age": "May 1, 2026",
        },
        {
            "type": "web_search_result",
            "url": "https://b.example/m",
            "title": "Moon",
            "encrypted_content": "EqB2",
        },
    ],
}
TEXT = {
    "type": "text",
    "text": "High tide 14:05.",
    "citations": [
        {
            "type": "web_search_result_location",
            "url": "https://a.example/t",
            "title": "Tides",
            "encrypted_index": "Eo8",
            "cited_text": "14:05",
        }
    ],
}
MESSAGE = {
    "id": "msg_1",
    "type": "message",
    "role": "assistant",
    "model": "claude-sonnet-4-5",
    "content": [USE, RESULT, TEXT],
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "usage": {"input_tokens": 10, "output_tokens": 5, "server_tool_use": {"web_search_requests": 1}},
}
SOURCES = [WebSource("https://a.example/t", "Tides"), WebSource("https://b.example/m", "Moon")]


def _request(**kw: Any) -> Request:
    return Request(model="m", messages=[Message("user", [TextPart("tides?")])], **kw)


def _anthropic_frames() -> list[tuple[str, dict[str, Any]]]:
    def block(i: int, start: dict[str, Any], *deltas: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        out = [("content_block_start", {"type": "content_block_start", "index": i, "content_block": start})]
        out += [
            ("content_block_delta", {"type": "content_block_delta", "index": i, "delta": d}) for d in deltas
        ]
        return [*out, ("content_block_stop", {"type": "content_block_stop", "index": i})]

    start = {**MESSAGE, "content": [], "stop_reason": None}
    return [
        ("message_start", {"type": "message_start", "message": start}),
        *block(0, {**USE, "input": {}}, {"type": "input_json_delta", "partial_json": '{"query": "tid'},
               {"type": "input_json_delta", "partial_json": 'es Brest"}'}),
        *block(1, RESULT),
        *block(2, {"type": "text", "text": "", "citations": []}, {"type": "text_delta", "text": "High tide 14:05."},
               {"type": "citations_delta", "citation": TEXT["citations"][0]}),
        ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": MESSAGE["usage"]}),
        ("message_stop", {"type": "message_stop"}),
    ]  # fmt: skip


def test_anthropic_answer_decodes_to_one_search_with_its_blocks_as_payload() -> None:
    parts = decode_whole(anthropic, MESSAGE, _request()).parts
    assert parts[1:] == [TextPart("High tide 14:05.")]
    search = parts[0]
    assert isinstance(search, WebSearchPart)
    assert (search.id, search.query, search.sources, search.status) == (
        "srvtoolu_01",
        "tides Brest",
        SOURCES,
        "completed",
    )
    assert search.opaque is not None and search.opaque.format == "anthropic"
    assert orjson.loads(search.opaque.blob) == [USE, RESULT]


def test_anthropic_stream_decodes_the_same_as_the_whole_answer() -> None:
    dec = anthropic.stream_decoder(_request())
    events = [ev for name, data in _anthropic_frames() for ev in dec.feed(name, data)] + dec.close()
    search = decode_whole(anthropic, MESSAGE, _request()).parts[0]
    assert [ev for ev in events if isinstance(ev, PartStart | PartEnd)] == [
        PartStart(0, search),
        PartEnd(0),
        PartStart(1, TextPart("")),
        PartEnd(1),
    ]
    assert assemble(events).parts == decode_whole(anthropic, MESSAGE, _request()).parts


def test_a_failed_anthropic_search() -> None:
    error = {**RESULT, "content": {"type": "web_search_tool_result_error", "error_code": "max_uses_exceeded"}}
    search = decode_whole(anthropic, {**MESSAGE, "content": [USE, error]}, _request()).parts[0]
    assert isinstance(search, WebSearchPart) and (search.status, search.sources) == ("failed", [])


def test_anthropic_client_gets_the_blocks_back_whole_and_streamed() -> None:
    resp = decode_whole(anthropic, MESSAGE, _request())
    assert anthropic.encode_response(resp, _request())["content"] == [
        USE,
        RESULT,
        {"type": "text", "text": "High tide 14:05."},
    ]
    enc = anthropic.stream_encoder(_request())
    parser = SSEParser()
    frames = [orjson.loads(f.data) for f in parser.feed(b"".join(enc.feed(ev) for ev in whole_events(resp)))]
    starts = [(f["index"], f["content_block"]["type"]) for f in frames if f["type"] == "content_block_start"]
    assert starts == [(0, "server_tool_use"), (1, "web_search_tool_result"), (2, "text")]
    deltas = {f["index"]: f["delta"] for f in frames if f["type"] == "content_block_delta"}
    assert (
        orjson.loads(deltas[0]["partial_json"]) == {"query": "tides Brest"}
        and deltas[2]["text"] == "High tide 14:05."
    )
    redecoded = anthropic.stream_decoder(_request())
    again = [ev for f in frames for ev in redecoded.feed(f["type"], f)] + redecoded.close()
    assert assemble(again).parts == resp.parts


def _history(search: WebSearchPart) -> Request:
    turn = Message("assistant", [search, TextPart("High tide 14:05.")])
    return Request(
        model="m",
        messages=[Message("user", [TextPart("tides?")]), turn, Message("user", [TextPart("next?")])],
    )


def test_anthropic_gets_its_own_blocks_back_verbatim_and_nobody_elses() -> None:
    search = decode_whole(anthropic, MESSAGE, _request()).parts[0]
    assert isinstance(search, WebSearchPart)
    search.opaque = Opaque("anthropic", search.opaque.blob if search.opaque else "", "up-a")
    profile = profile_of("anthropic", "claude-sonnet-4-5")
    own = anthropic.encode_request(
        reasoning.for_provider(_history(search), "up-a", "anthropic"), "c", profile
    )
    assert own["messages"][1]["content"] == [USE, RESULT, {"type": "text", "text": "High tide 14:05."}]
    other = anthropic.encode_request(
        reasoning.for_provider(_history(search), "up-b", "anthropic"), "c", profile
    )
    assert other["messages"][1]["content"] == "High tide 14:05."


def test_chat_and_gemini_keep_the_text_only() -> None:
    search = WebSearchPart("s1", "tides Brest", SOURCES)
    resp = Response("r", "m", [search, TextPart("High tide 14:05.")])
    assert (
        openai_chat.encode_response(resp, _request())["choices"][0]["message"]["content"]
        == "High tide 14:05."
    )
    assert gemini.encode_response(resp, _request())["candidates"][0]["content"]["parts"] == [
        {"text": "High tide 14:05."}
    ]
    chat = openai_chat.encode_request(_history(search), "gpt-4.1", profile_of("openai", "gpt-4.1"))
    assert chat["messages"][1] == {"role": "assistant", "content": "High tide 14:05."}
    body = gemini.encode_request(
        _history(search), "gemini-2.5-flash", profile_of("gemini", "gemini-2.5-flash")
    )
    assert body["contents"][1] == {"role": "model", "parts": [{"text": "High tide 14:05."}]}
    outbound = openai_responses.encode_request(_history(search), "gpt-5", profile_of("openai", "gpt-5"))
    assert [i.get("type", "message") for i in outbound["input"]] == ["message", "message", "message"]


GROUNDED = {"responseId": "g1", "modelVersion": "gemini-2.5-flash", "candidates": [{
    "content": {"role": "model", "parts": [{"text": "High tide 14:05."}]}, "finishReason": "STOP",
    "groundingMetadata": {"webSearchQueries": ["tides Brest", "Brest moon"], "groundingChunks": [
        {"web": {"uri": "https://a.example/t", "title": "Tides"}},
        {"web": {"uri": "https://b.example/m", "title": "Moon"}}],
        "searchEntryPoint": {"renderedContent": "<div/>"}}}]}  # fmt: skip


def test_gemini_grounding_decodes_to_searches_whole_and_streamed() -> None:
    parts = decode_whole(gemini, GROUNDED, _request(web_search=True)).parts
    assert parts[0] == TextPart("High tide 14:05.")
    first, second = parts[1:]
    assert isinstance(first, WebSearchPart) and isinstance(second, WebSearchPart)
    assert (first.query, first.sources, first.opaque) == ("tides Brest", SOURCES, None)
    assert (second.query, second.sources) == ("Brest moon", [])
    dec = gemini.stream_decoder(_request(web_search=True))
    text_only = copy.deepcopy(GROUNDED)
    del text_only["candidates"][0]["groundingMetadata"], text_only["candidates"][0]["finishReason"]
    ending = {
        "candidates": [{**GROUNDED["candidates"][0], "content": {"role": "model", "parts": [{"text": ""}]}}]
    }
    events = dec.feed(None, text_only) + dec.feed(None, ending) + dec.close()
    assert assemble(events).parts == parts


def test_responses_client_gets_a_web_search_call_item() -> None:
    search = WebSearchPart("s1", "tides Brest", SOURCES)
    out = openai_responses.encode_response(Response("r", "m", [search, TextPart("ok")]), _request())
    item = out["output"][0]
    assert item["id"].startswith("ws_")
    assert item == {"type": "web_search_call", "id": item["id"], "status": "completed", "action": {
        "type": "search", "query": "tides Brest",
        "sources": [{"type": "url", "url": "https://a.example/t"}, {"type": "url", "url": "https://b.example/m"}]}}  # fmt: skip
    enc = openai_responses.stream_encoder(_request())
    payload = b"".join(enc.feed(ev) for ev in whole_events(Response("r", "m", [search, TextPart("ok")])))
    events = [orjson.loads(f.data) for f in SSEParser().feed(payload)]
    kinds = [e["type"] for e in events]
    assert kinds[2:7] == ["response.output_item.added", "response.web_search_call.in_progress",
                          "response.web_search_call.searching", "response.web_search_call.completed",
                          "response.output_item.done"]  # fmt: skip
    assert events[2]["item"]["status"] == "in_progress" and events[6]["item"]["action"] == item["action"]
    assert events[-1]["response"]["output"][0]["action"] == item["action"]


def test_stored_state_keeps_the_payload() -> None:
    search = decode_whole(anthropic, MESSAGE, _request()).parts[0]
    assert part_from_json(orjson.loads(orjson.dumps(part_to_json(search)))) == search


def test_responses_items_carry_the_payload_back() -> None:
    """A client that keeps its own history (``store: false``) echoes the search and the
    reasoning item that carries its payload; Anthropic gets its blocks from them."""
    search = decode_whole(anthropic, MESSAGE, _request()).parts[0]
    search = reasoning.from_provider_event(PartStart(0, search), "up-a").part
    resp = reasoning.to_client(Response("r", "m", [search, TextPart("ok")]), "openai_responses", "anthropic")
    output = openai_responses.encode_response(resp, _request())["output"]
    assert [o["type"] for o in output] == ["web_search_call", "reasoning", "message"]
    assert output[1]["id"] == "rs_dtrsearch_" + output[0]["id"]
    body = {"model": "m", "input": [{"role": "user", "content": "tides?"}, *output,
                                    {"role": "user", "content": "next?"}]}  # fmt: skip
    req = reasoning.from_client(openai_responses.decode_request(body))
    echoed = req.messages[1].parts[0]
    assert isinstance(echoed, WebSearchPart) and (echoed.query, echoed.sources) == ("tides Brest", [
        WebSource("https://a.example/t"), WebSource("https://b.example/m")])  # fmt: skip
    out = anthropic.encode_request(
        reasoning.for_provider(req, "up-a", "anthropic"), "c", profile_of("anthropic", "c")
    )
    assert out["messages"][1]["content"][:2] == [USE, RESULT]
