"""What the depth limit at the edge costs on a typical agent body, in one run.

Builds a ~50 KB Claude Code-like Messages body (18 tools with nested schemas, a
long tool-using history) and times what ``inbound.json_body`` does with it:
the parse, and ``check_depth`` on the parsed body. Prints both per body and
the check's share of the parse.

    .venv/bin/python bench/body_depth.py [--kb 50]
"""

from __future__ import annotations

import argparse
import copy
import sys
import timeit
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from daemon.formats.fields import check_depth  # noqa: E402
from tests.formats.anthropic.samples import CLAUDE_CODE  # noqa: E402

EDIT_SCHEMA = {
    "type": "object",
    "properties": {
        "file_path": {"type": "string", "description": "The absolute path to the file"},
        "edits": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"old": {"type": "string"}, "new": {"type": "string"}},
                "required": ["old", "new"],
            },
        },
    },
    "required": ["file_path"],
    "additionalProperties": False,
}


def agent_body(kb: int) -> dict[str, Any]:
    body = copy.deepcopy(CLAUDE_CODE)
    about = "Performs exact string replacements in files. " * 8
    body["tools"] = [{"name": f"T{i}", "description": about, "input_schema": EDIT_SCHEMA} for i in range(18)]
    turn = 0
    while len(orjson.dumps(body)) < kb * 1000:
        call = f"toolu_{turn:04d}"
        body["messages"] += [
            {
                "role": "assistant",
                "content": [
                    {"type": "text", "text": "Let me look at that file. " * 3},
                    {"type": "tool_use", "id": call, "name": "T0", "input": {"file_path": f"/src/{turn}.py"}},
                ],
            },
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": call,
                        "content": [{"type": "text", "text": "def f():\n    return 1\n" * 10}],
                    }
                ],
            },
        ]
        turn += 1
    return body


def per_call_us(fn: Any, number: int = 2000) -> float:
    return min(timeit.repeat(fn, number=number, repeat=3)) / number * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kb", type=int, default=50)
    raw = orjson.dumps(agent_body(parser.parse_args().kb))
    body = orjson.loads(raw)
    parse, check = [], []
    for _ in range(5):  # alternating rounds, so load from elsewhere on the machine hits both alike
        parse.append(per_call_us(lambda: orjson.loads(raw)))
        check.append(per_call_us(lambda: check_depth(body)))
    p, c = min(parse), min(check)
    print(f"body {len(raw) / 1000:.1f} KB")
    print(f"parse (orjson.loads)   {p:7.1f} us")
    print(f"check_depth            {c:7.1f} us   ({100 * c / p:.0f}% of the parse)")


if __name__ == "__main__":
    main()
