"""Translation time of a 200-item Codex-style Responses conversation to each upstream format.

The conversation is what Codex CLI sends late in a session: a developer
message, the task, then turns of reasoning (Claude's signed thinking, wrapped by
detour), a ``function_call`` and its ``function_call_output``, with Codex's
tools (a ``namespace`` tool among them). Each figure is the whole inbound path
a request takes before it leaves: decode, reasoning provenance, encode.

    .venv/bin/python bench/responses.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def conversation(items: int = 200) -> dict[str, Any]:
    body: list[dict[str, Any]] = [
        {
            "type": "message",
            "role": "developer",
            "content": [{"type": "input_text", "text": "You are Codex. " * 40}],
        },
        {
            "type": "message",
            "role": "user",
            "content": [{"type": "input_text", "text": "Refactor the project."}],
        },
    ]
    i = 0
    while len(body) < items:
        body += [
            {"type": "reasoning", "id": f"rs_{i}", "encrypted_content": f"dtr1.anthropic.{'c2ln' * 40}",
             "summary": [{"type": "summary_text", "text": f"Look at m{i}."}]},
            {"type": "function_call", "id": f"fc_{i}", "call_id": f"call_{i}", "name": "exec_command",
             "arguments": f'{{"cmd":"cat src/m{i}.py"}}', "status": "completed"},
            {"type": "function_call_output", "call_id": f"call_{i}", "output": "x = 1\n" * 40},
        ]  # fmt: skip
        i += 1
    tools = [
        {"type": "function", "name": "exec_command", "description": "Run a command", "strict": False,
         "parameters": {"type": "object", "properties": {"cmd": {"type": "string"}}, "required": ["cmd"]}},
        {"type": "namespace", "name": "mcp__files", "description": "Files", "tools": [
            {"type": "function", "name": "read",
             "parameters": {"type": "object", "properties": {"p": {"type": "string"}}}}]},
    ]  # fmt: skip
    return {"model": "coder", "instructions": "", "input": body[:items], "tools": tools, "stream": True,
            "store": False, "reasoning": {"summary": "auto"},
            "include": ["reasoning.encrypted_content"]}  # fmt: skip


def main() -> None:
    sys.path.insert(0, str(ROOT))
    from daemon.formats.registry import FORMATS
    from daemon.providers import reasoning

    body = conversation()
    inbound = FORMATS["openai_responses"]
    n = 200
    t = time.perf_counter()
    for _ in range(n):
        reasoning.from_client(inbound.decode_request(body))
    decode_ms = (time.perf_counter() - t) / n * 1000
    print(f"== a {len(body['input'])}-item Codex-style Responses conversation, per request (ms) ==")
    print(f"{'decode Responses -> IR':<40}{decode_ms:8.3f}")
    models = {"anthropic": "claude-sonnet-4-5", "gemini": "gemini-3-flash-preview", "openai_chat": "gpt-4.1",
              "openai_responses": "gpt-5"}  # fmt: skip
    for name, model in models.items():
        fmt = FORMATS[name]
        t = time.perf_counter()
        for _ in range(n):
            req = reasoning.from_client(inbound.decode_request(body))
            fmt.encode_request(reasoning.for_provider(req, name, name), model)
        total = (time.perf_counter() - t) / n * 1000
        print(f"{'decode + encode -> ' + name:<40}{total:8.3f}")


if __name__ == "__main__":
    main()
