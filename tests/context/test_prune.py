"""Pruning a conversation's whole-file tool results: a pure function, dicts of IR in and out."""

from __future__ import annotations

import json

from daemon.context.prune import marker, prune
from daemon.ir import Message, Request, TextPart, ToolCallPart, ToolResultPart
from daemon.ir.tokens import request_tokens


def _conversation(files: dict[str, str]) -> Request:
    messages = [Message("user", [TextPart("Fix the bug.")])]
    for i, (path, text) in enumerate(files.items()):
        messages.append(
            Message("assistant", [ToolCallPart(f"c{i}", "Read", json.dumps({"file_path": path}))])
        )
        messages.append(Message("user", [ToolResultPart(f"c{i}", [TextPart(text)])]))
    messages.append(Message("user", [TextPart("Now?")]))
    return Request("m", messages)


def _shrink(path: str, text: str) -> str | None:
    return None if path.endswith("skip.py") else f"outline of {path}"


def test_the_oldest_whole_files_go_first_and_only_until_it_fits() -> None:
    big = "x = 1\n" * 3000
    req = _conversation({"/p/a.py": big, "/p/skip.py": big, "/p/b.py": big, "/p/c.py": big})
    before = request_tokens(req)
    limit = before - 2 * request_tokens(Request("m", [Message("user", [TextPart(big)])])) + 100
    out = prune(req, _shrink, lambda r: request_tokens(r) <= limit)
    assert out.notes == ["pruned /p/a.py (3001 lines)", "pruned /p/b.py (3001 lines)"]
    texts = [
        p.content[0].text for m in out.request.messages for p in m.parts if isinstance(p, ToolResultPart)
    ]
    assert texts[0] == f"{marker(3001, '/p/a.py')}\noutline of /p/a.py"
    assert texts[1] == big and texts[3] == big  # skip.py is no indexed file; c.py was not needed
    assert texts[2].startswith("[detour: pruned from 3001 lines; full text at /p/b.py]")
    assert request_tokens(out.request) <= limit
    # The client's request is untouched: the next target in the chain needs it whole.
    assert request_tokens(req) == before


def test_without_a_limit_every_accepted_file_is_pruned_and_a_fitting_request_is_left_alone() -> None:
    req = _conversation(
        {"/p/a.py": "a\n" * 10, "/p/skip.py": "b\n" * 10, "/p/c.py": "c\n" * 10, "/p/d.py": "d"}
    )
    # d.py's outline would be longer than the file itself: it stays.
    assert [n.split()[1] for n in prune(req, _shrink).notes] == ["/p/a.py", "/p/c.py"]
    same = prune(req, _shrink, lambda r: True)
    assert same.request is req and same.notes == []


def test_error_results_and_calls_without_a_path_are_left_alone() -> None:
    req = Request(
        "m",
        [
            Message(
                "assistant",
                [
                    ToolCallPart("c1", "Bash", '{"command": "cat a.py"}'),
                    ToolCallPart("c2", "Read", '{"path": "/p/a.py"}'),
                ],
            ),
            Message(
                "user",
                [
                    ToolResultPart("c1", [TextPart("lots")]),
                    ToolResultPart("c2", [TextPart("no such file")], is_error=True),
                ],
            ),
        ],
    )
    assert prune(req, _shrink).notes == []
