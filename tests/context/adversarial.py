"""Files that once stalled the daemon when saved into a watched project (issue 20):
each is written by a function so the tests and bench/context.py save the same bytes."""

from __future__ import annotations

from pathlib import Path


def one_function_then_comments() -> bytes:
    """1 MB of Python: one function, then 13,000 comment lines (tree-sitter took 72 s on it)."""
    comment = b"# " + b"x" * 76 + b"\n"
    return b"def only(a, b):\n    return a + b\n\n" + comment * 13_000


def nested_functions(depth: int = 2_500) -> bytes:
    """2,500 functions each inside the last, well under the size limit (2.3 s on the loop)."""
    opening = b"".join(b"function f%d(a) { const x%d = a;\n" % (i, i) for i in range(depth))
    return opening + b"return x0; }\n" * depth


def one_line_js() -> bytes:
    """600 KB of JavaScript on a single line."""
    return b"var a=1;" * 75_000 + b"\n"


FILES = {
    "big_function.py": one_function_then_comments,
    "nested.js": nested_functions,
    "one_line.js": one_line_js,
}


def save(root: Path, name: str) -> Path:
    path = root / name
    path.write_bytes(FILES[name]())
    return path
