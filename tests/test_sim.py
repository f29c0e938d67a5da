from __future__ import annotations

import json

from daemon.config import ProviderConfig
from daemon.ir import (
    Message,
    Request,
    ResponseFormat,
    StreamAssembler,
    TextPart,
    Tool,
    ToolCallPart,
    ToolResultPart,
)
from daemon.providers.sim import SimProvider
from daemon.routing import structured

SIM = SimProvider(ProviderConfig(id="sim", kind="sim", base_url=""))
TOOL = Tool(
    "Read",
    "read a file",
    {"type": "object", "properties": {"file_path": {"type": "string"}}, "required": ["file_path"]},
)


async def test_text_answer_says_it_is_simulated() -> None:
    r = await SIM.complete(Request("m", [Message("user", [TextPart("hello there")])]), "sim-1")
    assert r.finish == "end" and "simulated" in r.parts[0].text  # type: ignore[union-attr]
    assert r.usage.input_tokens > 0 and r.usage.output_tokens > 0


async def test_calls_the_named_tool_and_reports_results() -> None:
    req = Request("m", [Message("user", [TextPart("please Read the readme")])], tools=[TOOL])
    r = await SIM.complete(req, "sim-1")
    call = r.parts[-1]
    assert isinstance(call, ToolCallPart) and r.finish == "tool_use"
    assert json.loads(call.arguments) == {"file_path": "README.md"}
    req.messages += [
        Message("assistant", list(r.parts)),
        Message("user", [ToolResultPart(call.id, [TextPart("# detour")])]),
    ]
    r2 = await SIM.complete(req, "sim-1")
    assert "# detour" in r2.parts[0].text  # type: ignore[union-attr]


async def test_stream_assembles_to_the_same_answer() -> None:
    req = Request("m", [Message("user", [TextPart("please Read the readme")])], tools=[TOOL])
    whole = await SIM.complete(req, "sim-1")
    a = StreamAssembler()
    async for ev in SIM.stream(req, "sim-1"):
        a.feed(ev)
    assert a.response() == whole


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
    resp = structured.check(req, await SIM.complete(req, "sim-model"))
    assert json.loads(resp.output_json or "") == {"name": "Ada", "age": 1, "role": "a"}
