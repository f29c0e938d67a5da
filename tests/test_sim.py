from __future__ import annotations

import json

from daemon.config import ProviderConfig
from daemon.ir import (
    Message,
    Request,
    Response,
    ResponseFormat,
    StreamAssembler,
    TextPart,
    Tool,
    ToolCallPart,
    ToolResultPart,
)
from daemon.providers.base import Provider
from daemon.providers.sim import SimProvider, answer
from daemon.routing import structured

SIM = SimProvider(ProviderConfig(id="sim", kind="sim", base_url=""))


async def whole(provider: Provider, req: Request, model: str) -> Response:
    assembler = StreamAssembler()
    async for ev in provider.stream(req, model):
        assembler.feed(ev)
    return assembler.response()


TOOL = Tool(
    "Read",
    "read a file",
    {"type": "object", "properties": {"file_path": {"type": "string"}}, "required": ["file_path"]},
)


async def test_text_answer_says_it_is_simulated() -> None:
    r = await whole(SIM, Request("m", [Message("user", [TextPart("hello there")])]), "sim-1")
    assert r.finish == "end" and "simulated" in r.parts[0].text  # type: ignore[union-attr]
    assert r.usage.input_tokens > 0 and r.usage.output_tokens > 0


async def test_calls_the_named_tool_and_reports_results() -> None:
    req = Request("m", [Message("user", [TextPart("please Read the readme")])], tools=[TOOL])
    r = await whole(SIM, req, "sim-1")
    call = r.parts[-1]
    assert isinstance(call, ToolCallPart) and r.finish == "tool_use"
    assert json.loads(call.arguments) == {"file_path": "README.md"}
    req.messages += [
        Message("assistant", list(r.parts)),
        Message("user", [ToolResultPart(call.id, [TextPart("# detour")])]),
    ]
    r2 = await whole(SIM, req, "sim-1")
    assert "# detour" in r2.parts[0].text  # type: ignore[union-attr]


async def test_stream_assembles_to_the_same_answer() -> None:
    req = Request("m", [Message("user", [TextPart("please Read the readme")])], tools=[TOOL])
    assert await whole(SIM, req, "sim-1") == answer(req, "sim-1")


async def test_asked_for_json_it_answers_json_that_holds() -> None:
    schema = {
        "type": "object",
        "properties": {"name": {"type": "string"}, "age": {"type": "integer"}, "role": {"enum": ["a", "b"]}},
        "required": ["name", "age", "role"],
    }
    req = Request(
        "m",
        [Message("user", [TextPart("Ada")])],
        response_format=ResponseFormat("json_schema", schema=schema),
    )
    assembler = StreamAssembler()
    async for ev in structured.guard(req, SIM.stream(req, "sim-model")):  # raises InvalidJson if not
        assembler.feed(ev)
    (text,) = assembler.response().parts
    assert isinstance(text, TextPart) and json.loads(text.text) == {"name": "Ada", "age": 1, "role": "a"}
