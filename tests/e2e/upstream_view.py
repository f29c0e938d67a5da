"""Read what an upstream received, in its own wire format, for assertions."""

from __future__ import annotations

import json
from typing import Any


def system_text(fmt: str, body: dict[str, Any]) -> str:
    if fmt == "anthropic":
        system = body.get("system", "")
        return system if isinstance(system, str) else "".join(b["text"] for b in system)
    if fmt == "gemini":
        return "".join(p.get("text", "") for p in body.get("systemInstruction", {}).get("parts", []))
    return "".join(
        m["content"] if isinstance(m["content"], str) else "".join(p["text"] for p in m["content"])
        for m in body["messages"]
        if m["role"] in ("system", "developer")
    )


def user_texts(fmt: str, body: dict[str, Any]) -> list[str]:
    out: list[str] = []
    if fmt == "gemini":
        for c in body["contents"]:
            if c.get("role", "user") == "user":
                out += [p["text"] for p in c["parts"] if "text" in p]
        return out
    for m in body["messages"]:
        if m["role"] != "user":
            continue
        content = m["content"]
        if isinstance(content, str):
            out.append(content)
        else:
            out += [b["text"] for b in content if b.get("type") == "text"]
    return out


def tool_exchange(fmt: str, body: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(call key, tool name, result text) for each tool result, the key tying result to call."""
    out: list[tuple[str, str, str]] = []
    if fmt == "anthropic":
        names = {
            b["id"]: b["name"]
            for m in body["messages"]
            if m["role"] == "assistant" and isinstance(m["content"], list)
            for b in m["content"]
            if b["type"] == "tool_use"
        }
        for m in body["messages"]:
            if m["role"] == "user" and isinstance(m["content"], list):
                for b in m["content"]:
                    if b["type"] == "tool_result":
                        c = b.get("content", "")
                        text = c if isinstance(c, str) else "".join(x.get("text", "") for x in c)
                        out.append((b["tool_use_id"], names[b["tool_use_id"]], text))
    elif fmt == "openai":
        names = {
            c["id"]: c["function"]["name"]
            for m in body["messages"]
            if m["role"] == "assistant"
            for c in m.get("tool_calls") or []
        }
        for m in body["messages"]:
            if m["role"] == "tool":
                c = m["content"]
                text = c if isinstance(c, str) else "".join(x["text"] for x in c)
                out.append((m["tool_call_id"], names[m["tool_call_id"]], text))
    else:
        for c in body["contents"]:
            for p in c["parts"]:
                if "functionResponse" in p:
                    fr = p["functionResponse"]
                    resp = fr["response"]
                    text = resp.get("output", json.dumps(resp))
                    out.append((fr["name"], fr["name"], text if isinstance(text, str) else json.dumps(text)))
    return out


def image_data(fmt: str, body: dict[str, Any]) -> list[str]:
    """Base64 image payloads the upstream received."""
    out: list[str] = []
    if fmt == "gemini":
        for c in body["contents"]:
            out += [p["inlineData"]["data"] for p in c["parts"] if "inlineData" in p]
        return out
    for m in body["messages"]:
        if isinstance(m.get("content"), list):
            for b in m["content"]:
                if b.get("type") == "image":
                    out.append(b["source"]["data"])
                elif b.get("type") == "image_url":
                    out.append(b["image_url"]["url"].split(",", 1)[1])
    return out


def tool_names(fmt: str, body: dict[str, Any]) -> list[str]:
    if fmt == "anthropic":
        return [t["name"] for t in body.get("tools", [])]
    if fmt == "openai":
        return [t["function"]["name"] for t in body.get("tools", [])]
    return [d["name"] for t in body.get("tools", []) for d in t.get("functionDeclarations", [])]


def tool_calls(fmt: str, body: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(name, arguments) of every tool call in the assistant history, in order."""
    if fmt == "gemini":
        return [
            (p["functionCall"]["name"], p["functionCall"].get("args", {}))
            for c in body["contents"]
            if c.get("role") == "model"
            for p in c["parts"]
            if "functionCall" in p
        ]
    if fmt == "anthropic":
        return [
            (b["name"], b["input"])
            for m in body["messages"]
            if m["role"] == "assistant" and isinstance(m["content"], list)
            for b in m["content"]
            if b["type"] == "tool_use"
        ]
    return [
        (c["function"]["name"], json.loads(c["function"]["arguments"]))
        for m in body["messages"]
        if m["role"] == "assistant"
        for c in m.get("tool_calls") or []
    ]
