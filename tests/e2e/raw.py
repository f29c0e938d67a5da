"""A client of each inbound format over plain aiohttp, to see the exact bytes detour sends.

The official SDKs hide frames and headers; these helpers keep them: what status
came back, every SSE frame, whether the stream ended the way its format ends a
finished answer, and any error in the client's own shape.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import aiohttp

PROMPT = "Say hello."


@dataclass
class Outcome:
    status: int
    headers: dict[str, str]
    text: str = ""
    # Error objects in the client's format: the body of an error answer, or in-stream error frames.
    errors: list[dict[str, Any]] = field(default_factory=list)
    # A stream ended the way its format ends a finished answer (never after an error).
    finished: bool = False
    frames: list[tuple[str | None, str]] = field(default_factory=list)

    @property
    def attempts(self) -> list[str]:
        return self.headers.get("x-detour-attempts", "").split(",")

    def messages(self) -> int:
        """How many answers the stream holds: a failover before content must leave exactly one."""
        ids = set()
        for event, data in self.frames:
            if event == "message_start":
                ids.add(json.loads(data)["message"]["id"])
            elif event is None and data.startswith("{"):
                obj = json.loads(data)
                ids.add(obj.get("id") or obj.get("responseId"))
        ids.discard(None)
        return len(ids)

    def error_type(self, fmt: str) -> str:
        """The client-format error type: OpenAI/Anthropic ``type``, Gemini ``status``."""
        err = self.errors[0]["error"]
        return str(err["status"] if fmt == "gemini" else err["type"])

    def error_message(self) -> str:
        return str(self.errors[0]["error"]["message"])


def endpoint(fmt: str, model: str, stream: bool) -> tuple[str, dict[str, Any]]:
    """(path, body) of a one-line question in ``fmt``."""
    # A short answer asked for, in every format: a non-streamed request gets more time the
    # longer the answer it asks for (providers.http), and these are about hangs.
    if fmt == "openai":
        body: dict[str, Any] = {
            "model": model, "max_tokens": 512, "messages": [{"role": "user", "content": PROMPT}],
        }  # fmt: skip
        if stream:
            body["stream"] = True
        return "/v1/chat/completions", body
    if fmt == "anthropic":
        body = {"model": model, "max_tokens": 512, "messages": [{"role": "user", "content": PROMPT}]}
        if stream:
            body["stream"] = True
        return "/v1/messages", body
    method = "streamGenerateContent?alt=sse" if stream else "generateContent"
    return f"/v1beta/models/{model}:{method}", {
        "contents": [{"role": "user", "parts": [{"text": PROMPT}]}],
        "generationConfig": {"maxOutputTokens": 512},
    }


async def ask(
    session: aiohttp.ClientSession, base: str, token: str, fmt: str, model: str, stream: bool
) -> Outcome:
    path, body = endpoint(fmt, model, stream)
    async with session.post(base + path, json=body, headers={"Authorization": f"Bearer {token}"}) as r:
        raw = await r.read()
        out = Outcome(r.status, {k.lower(): v for k, v in r.headers.items()})
    if r.status >= 400 or not stream:
        data = json.loads(raw)
        if r.status >= 400:
            out.errors.append(data)
        else:
            out.text = answer_text(fmt, data)
        return out
    _read_stream(fmt, raw.decode(), out)
    return out


def answer_text(fmt: str, data: dict[str, Any]) -> str:
    if fmt == "openai":
        return str(data["choices"][0]["message"]["content"] or "")
    if fmt == "anthropic":
        return "".join(b["text"] for b in data["content"] if b["type"] == "text")
    parts = data["candidates"][0]["content"]["parts"]
    return "".join(p.get("text", "") for p in parts if not p.get("thought"))


def sse_frames(raw: str) -> list[tuple[str | None, str]]:
    """Each SSE frame's event name and data, as a client reads them."""
    frames: list[tuple[str | None, str]] = []
    for block in re.split(r"\r?\n\r?\n", raw):
        if not block.strip():
            continue
        event, data = None, []
        for line in re.split(r"\r?\n", block):
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].lstrip())
        frames.append((event, "\n".join(data)))
    return frames


def _read_stream(fmt: str, raw: str, out: Outcome) -> None:
    out.frames += sse_frames(raw)
    for event, data in out.frames:
        if fmt == "openai" and data == "[DONE]":
            out.finished = not out.errors
            continue
        obj = json.loads(data)
        if "error" in obj:
            out.errors.append(obj)
            continue
        if fmt == "openai":
            for choice in obj.get("choices") or []:
                out.text += choice.get("delta", {}).get("content") or ""
        elif fmt == "anthropic":
            if event == "content_block_delta" and obj["delta"]["type"] == "text_delta":
                out.text += obj["delta"]["text"]
            out.finished = out.finished or (event == "message_stop" and not out.errors)
        else:
            cand = (obj.get("candidates") or [{}])[0]
            parts = cand.get("content", {}).get("parts", [])
            out.text += "".join(p.get("text", "") for p in parts if not p.get("thought"))
            out.finished = out.finished or (bool(cand.get("finishReason")) and not out.errors)
