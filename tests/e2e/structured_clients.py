"""Structured output through each official SDK, the way an application asks for it.

Each mode returns the object the SDK parsed (or ``json.loads`` of the text, for
raw modes), as a plain dict with the schema's own names, so a test can compare
it with what the fake upstream produced.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any, Literal

import pydantic
from google.genai import types as gtypes

from tests.e2e.clients import AnthropicClient, Client, GeminiClient, OpenAIClient

PROMPT = "Describe Ada as JSON."


class Address(pydantic.BaseModel):
    street: str
    zip_code: str = pydantic.Field(alias="zip-code")


class Tag(pydantic.BaseModel):
    label: str
    weight: int | None


class Person(pydantic.BaseModel):
    """Nested objects, an array of objects, an enum, a nullable field and dashed names."""

    name: str
    file_path: str = pydantic.Field(alias="file-path")
    role: Literal["admin", "user"]
    nickname: str | None
    home: Address
    tags: list[Tag]


VALUE: dict[str, Any] = {
    "name": "Ada",
    "file-path": "src/main.py",
    "role": "admin",
    "nickname": None,
    "home": {"street": "1 Loop", "zip-code": "12345"},
    "tags": [{"label": "x", "weight": 2}, {"label": "y", "weight": None}],
}


def dumped(value: Any) -> dict[str, Any]:
    if isinstance(value, pydantic.BaseModel):
        return value.model_dump(by_alias=True)
    assert isinstance(value, dict), value
    return value


def gemini_wire(value: Any) -> Any:
    """``value`` as Gemini writes it: dashed property names renamed (``zip_code``)."""
    if isinstance(value, dict):
        return {k.replace("-", "_"): gemini_wire(v) for k, v in value.items()}
    if isinstance(value, list):
        return [gemini_wire(v) for v in value]
    return value


# -- per SDK -----------------------------------------------------------------------------------


async def openai_parse(c: OpenAIClient, model: str, stream: bool) -> dict[str, Any]:
    msgs: Any = [{"role": "user", "content": PROMPT}]
    if stream:
        async with c.sdk.chat.completions.stream(model=model, messages=msgs, response_format=Person) as s:
            done = await s.get_final_completion()
    else:
        done = await c.sdk.chat.completions.parse(model=model, messages=msgs, response_format=Person)
    return dumped(done.choices[0].message.parsed)


async def _openai_raw(c: OpenAIClient, model: str, stream: bool, response_format: Any) -> dict[str, Any]:
    msgs: Any = [{"role": "user", "content": PROMPT}]
    if stream:
        text = ""
        async for chunk in await c.sdk.chat.completions.create(
            model=model, messages=msgs, response_format=response_format, stream=True
        ):
            if chunk.choices and chunk.choices[0].delta.content:
                text += chunk.choices[0].delta.content
    else:
        done = await c.sdk.chat.completions.create(
            model=model, messages=msgs, response_format=response_format
        )
        text = done.choices[0].message.content or ""
    return dumped(json.loads(text))


async def openai_raw_schema(c: OpenAIClient, model: str, stream: bool) -> dict[str, Any]:
    schema = {"name": "person", "schema": Person.model_json_schema()}
    return await _openai_raw(c, model, stream, {"type": "json_schema", "json_schema": schema})


async def openai_json_object(c: OpenAIClient, model: str, stream: bool) -> dict[str, Any]:
    return await _openai_raw(c, model, stream, {"type": "json_object"})


async def anthropic_parse(c: AnthropicClient, model: str, stream: bool) -> dict[str, Any]:
    kw: Any = {"model": model, "max_tokens": 1024, "messages": [{"role": "user", "content": PROMPT}]}
    if stream:
        async with c.sdk.messages.stream(**kw, output_format=Person) as s:
            msg = await s.get_final_message()
    else:
        msg = await c.sdk.messages.parse(**kw, output_format=Person)
    return dumped(msg.parsed_output)


async def anthropic_raw(c: AnthropicClient, model: str, stream: bool) -> dict[str, Any]:
    kw: Any = {
        "model": model,
        "max_tokens": 1024,
        "messages": [{"role": "user", "content": PROMPT}],
        "output_config": {"format": {"type": "json_schema", "schema": Person.model_json_schema()}},
    }
    if stream:
        async with c.sdk.messages.stream(**kw) as s:
            msg = await s.get_final_message()
    else:
        msg = await c.sdk.messages.create(**kw)
    return dumped(json.loads("".join(b.text for b in msg.content if b.type == "text")))


async def _gemini(c: GeminiClient, model: str, stream: bool, config: gtypes.GenerateContentConfig) -> Any:
    if stream:
        text = ""
        async for chunk in await c.sdk.aio.models.generate_content_stream(
            model=model, contents=PROMPT, config=config
        ):
            text += chunk.text or ""
        return json.loads(text)
    resp = await c.sdk.aio.models.generate_content(model=model, contents=PROMPT, config=config)
    return resp.parsed


async def gemini_response_schema(c: GeminiClient, model: str, stream: bool) -> dict[str, Any]:
    config = gtypes.GenerateContentConfig(response_mime_type="application/json", response_schema=Person)
    got = await _gemini(c, model, stream, config)
    return dumped(Person.model_validate(got) if isinstance(got, dict) else got)


async def gemini_response_json_schema(c: GeminiClient, model: str, stream: bool) -> dict[str, Any]:
    config = gtypes.GenerateContentConfig(
        response_mime_type="application/json", response_json_schema=Person.model_json_schema()
    )
    return dumped(await _gemini(c, model, stream, config))


Mode = Callable[[Any, str, bool], Awaitable[dict[str, Any]]]
MODES: dict[str, dict[str, Mode]] = {
    "openai": {"parse": openai_parse, "raw_schema": openai_raw_schema, "json_object": openai_json_object},
    "anthropic": {"parse": anthropic_parse, "raw": anthropic_raw},
    "gemini": {
        "response_schema": gemini_response_schema,
        "response_json_schema": gemini_response_json_schema,
    },
}


async def ask(client: Client, mode: str, model: str, stream: bool) -> dict[str, Any]:
    return await MODES[client.name][mode](client, model, stream)
