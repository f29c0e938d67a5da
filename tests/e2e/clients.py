"""The three official SDKs behind one small interface, as an agent would use each.

Every method returns what the SDK parsed, so a test fails if an SDK cannot read
what detour sends.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

import anthropic
import openai
from google import genai
from google.genai import types as gtypes

from tests.wait import HANG_S

WEATHER_TOOL = {
    "name": "get_weather",
    "description": "Current weather for a city",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string", "description": "City name"}},
        "required": ["city"],
    },
}
# A 1x1 PNG.
PNG_B64 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
SYSTEM = "You are terse and answer in one line."


@dataclass
class Call:
    id: str | None
    name: str
    args: dict[str, Any]


@dataclass
class Reply:
    text: str
    calls: list[Call]
    raw_assistant: Any = None  # what the client puts back into history


class OpenAIClient:
    name = "openai"

    def __init__(self, url: str, token: str) -> None:
        self.sdk = openai.AsyncOpenAI(base_url=url + "/v1", api_key=token, max_retries=0, timeout=HANG_S)

    async def close(self) -> None:
        await self.sdk.close()

    async def ask(
        self,
        model: str,
        messages: list[dict[str, Any]],
        stream: bool,
        tools: bool,
        extra: dict[str, Any] | None = None,
    ) -> Reply:
        kw: dict[str, Any] = {"model": model, "messages": messages, **(extra or {})}
        if tools:
            kw["tools"] = [{"type": "function", "function": WEATHER_TOOL}]
        if stream:
            async with self.sdk.chat.completions.stream(**kw) as s:
                done = await s.get_final_completion()
        else:
            done = await self.sdk.chat.completions.create(**kw)
        msg = done.choices[0].message
        calls = [
            Call(c.id, c.function.name, json.loads(c.function.arguments))
            for c in (msg.tool_calls or [])
            if c.type == "function"
        ]
        return Reply(msg.content or "", calls, msg.model_dump(exclude_none=True))

    async def text(self, model: str, prompt: str, stream: bool) -> Reply:
        msgs = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": prompt}]
        return await self.ask(model, msgs, stream, tools=False)

    async def image(self, model: str, stream: bool) -> Reply:
        content = [
            {"type": "text", "text": "What is in this image?"},
            {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG_B64}"}},
        ]
        return await self.ask(model, [{"role": "user", "content": content}], stream, tools=False)

    async def tool_round_trip(self, model: str, stream: bool) -> tuple[Reply, Reply]:
        msgs: list[dict[str, Any]] = [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": "Weather in Paris? Use get_weather."},
        ]
        first = await self.ask(model, msgs, stream, tools=True)
        msgs.append(first.raw_assistant)
        for c in first.calls:
            msgs.append({"role": "tool", "tool_call_id": c.id, "content": "18C, cloudy"})
        return first, await self.ask(model, msgs, stream, tools=True)


class AnthropicClient:
    name = "anthropic"

    def __init__(self, url: str, token: str) -> None:
        self.sdk = anthropic.AsyncAnthropic(base_url=url, api_key=token, max_retries=0, timeout=HANG_S)

    async def close(self) -> None:
        await self.sdk.close()

    async def ask(
        self,
        model: str,
        messages: list[dict[str, Any]],
        stream: bool,
        tools: bool,
        extra: dict[str, Any] | None = None,
    ) -> Reply:
        kw: dict[str, Any] = {"model": model, "max_tokens": 1024, "messages": messages, "system": SYSTEM}
        kw.update(extra or {})
        if tools:
            t = WEATHER_TOOL
            kw["tools"] = [
                {"name": t["name"], "description": t["description"], "input_schema": t["parameters"]}
            ]
        if stream:
            async with self.sdk.messages.stream(**kw) as s:
                msg = await s.get_final_message()
        else:
            msg = await self.sdk.messages.create(**kw)
        text = "".join(b.text for b in msg.content if b.type == "text")
        calls = [Call(b.id, b.name, dict(b.input)) for b in msg.content if b.type == "tool_use"]
        return Reply(text, calls, {"role": "assistant", "content": [b.model_dump() for b in msg.content]})

    async def text(self, model: str, prompt: str, stream: bool) -> Reply:
        return await self.ask(model, [{"role": "user", "content": prompt}], stream, tools=False)

    async def image(self, model: str, stream: bool) -> Reply:
        content = [
            {"type": "text", "text": "What is in this image?"},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG_B64}},
        ]
        return await self.ask(model, [{"role": "user", "content": content}], stream, tools=False)

    async def tool_round_trip(self, model: str, stream: bool) -> tuple[Reply, Reply]:
        msgs: list[dict[str, Any]] = [{"role": "user", "content": "Weather in Paris? Use get_weather."}]
        first = await self.ask(model, msgs, stream, tools=True)
        msgs.append(first.raw_assistant)
        results = [
            {"type": "tool_result", "tool_use_id": c.id, "content": "18C, cloudy"} for c in first.calls
        ]
        msgs.append({"role": "user", "content": results})
        return first, await self.ask(model, msgs, stream, tools=True)


class GeminiClient:
    name = "gemini"

    def __init__(self, url: str, token: str) -> None:
        self.sdk = genai.Client(api_key=token, http_options=gtypes.HttpOptions(base_url=url))

    async def close(self) -> None:
        await self.sdk.aio.aclose()

    async def ask(
        self,
        model: str,
        contents: list[gtypes.Content],
        stream: bool,
        tools: bool,
        extra: dict[str, Any] | None = None,
    ) -> Reply:
        config = gtypes.GenerateContentConfig(system_instruction=SYSTEM, **(extra or {}))
        if tools:
            decl = gtypes.FunctionDeclaration(
                name=WEATHER_TOOL["name"],
                description=WEATHER_TOOL["description"],
                parameters_json_schema=WEATHER_TOOL["parameters"],
            )
            config.tools = [gtypes.Tool(function_declarations=[decl])]
        parts: list[gtypes.Part] = []
        if stream:
            async for chunk in await self.sdk.aio.models.generate_content_stream(
                model=model, contents=contents, config=config
            ):
                if chunk.candidates and chunk.candidates[0].content and chunk.candidates[0].content.parts:
                    parts.extend(chunk.candidates[0].content.parts)
        else:
            resp = await self.sdk.aio.models.generate_content(model=model, contents=contents, config=config)
            assert resp.candidates and resp.candidates[0].content
            parts = list(resp.candidates[0].content.parts or [])
        text = "".join(p.text for p in parts if p.text and not p.thought)
        calls = [
            Call(p.function_call.id, p.function_call.name or "", dict(p.function_call.args or {}))
            for p in parts
            if p.function_call
        ]
        return Reply(
            text,
            calls,
            gtypes.Content(
                role="model",
                parts=[p for p in parts if not p.text or p.thought]
                + ([gtypes.Part(text=text)] if text else []),
            ),
        )

    async def text(self, model: str, prompt: str, stream: bool) -> Reply:
        return await self.ask(
            model, [gtypes.Content(role="user", parts=[gtypes.Part(text=prompt)])], stream, False
        )

    async def image(self, model: str, stream: bool) -> Reply:
        parts = [
            gtypes.Part(text="What is in this image?"),
            gtypes.Part(inline_data=gtypes.Blob(mime_type="image/png", data=base64.b64decode(PNG_B64))),
        ]
        return await self.ask(model, [gtypes.Content(role="user", parts=parts)], stream, False)

    async def tool_round_trip(self, model: str, stream: bool) -> tuple[Reply, Reply]:
        contents = [
            gtypes.Content(role="user", parts=[gtypes.Part(text="Weather in Paris? Use get_weather.")])
        ]
        first = await self.ask(model, contents, stream, True)
        contents.append(first.raw_assistant)
        responses = [
            gtypes.Part(
                function_response=gtypes.FunctionResponse(
                    id=c.id, name=c.name, response={"output": "18C, cloudy"}
                )
            )
            for c in first.calls
        ]
        contents.append(gtypes.Content(role="user", parts=responses))
        return first, await self.ask(model, contents, stream, True)


Client = OpenAIClient | AnthropicClient | GeminiClient
CLIENTS: dict[str, type[Client]] = {
    "openai": OpenAIClient,
    "anthropic": AnthropicClient,
    "gemini": GeminiClient,
}
