"""Context on libraries detour did not write: a 2,000-token budget holds a target and what it uses.

The installed source of a package in the venv is copied and indexed. Every function
and method of up to 70 lines that uses something defined elsewhere in the package
is asked for at 2,000 tokens (counted as a model counts them), and must come back
with its every line and, for each name it uses, the signature of a definition the
index resolves that name to, at its line.
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import pytest

from daemon.context import extract
from daemon.context.index import ProjectIndex, Ref

BUDGET = 2000
LONGEST = 70  # lines


@pytest.mark.parametrize("package", ["jsonschema", "h11"])
def test_a_target_of_up_to_70_lines_comes_whole_with_every_direct_dependency(
    tmp_path: Path, package: str
) -> None:
    spec = importlib.util.find_spec(package)
    assert spec is not None and spec.origin is not None
    ignore = shutil.ignore_patterns("__pycache__", "tests", "benchmarks")
    shutil.copytree(Path(spec.origin).parent, tmp_path / package, ignore=ignore)
    index = ProjectIndex(tmp_path)
    index.build()
    checked, missed = 0, []
    for rel, entry in sorted(index.files.items()):
        if entry.symbols is None:
            continue
        source = (tmp_path / rel).read_text().splitlines()
        for at, d in enumerate(entry.symbols.definitions):
            ref = Ref(rel, at)
            if d.kind not in ("function", "method") or d.end - d.start + 1 > LONGEST:
                continue
            if extract.find(index, rel, d.qualname) != ref:
                continue  # a property's setter: the getter of that name is the target
            uses = _used_elsewhere(index, ref)
            if not uses:
                continue
            found = extract.context(index, f"{rel}::{d.qualname}", BUDGET)
            assert found.tokens <= BUDGET
            checked += 1
            body = "\n".join(
                f"{d.start + i:>6}| {line}" for i, line in enumerate(source[d.start - 1 : d.end])
            )
            if body not in found.text:
                missed.append(f"{rel}::{d.qualname} ({d.end - d.start + 1} lines) not in full")
            for name, defs in sorted(uses.items()):
                # Under "used by the target", or its enclosing class as the header above it.
                if not any(_first_line(index, o) in found.text for o in defs):
                    missed.append(f"{rel}::{d.qualname} without {name}")
    assert checked >= 15, checked  # the package still has targets to ask for
    assert not missed, f"{len(missed)} of {checked}: " + "; ".join(missed)


def _used_elsewhere(index: ProjectIndex, ref: Ref) -> dict[str, list[Ref]]:
    """Each name the target uses -> the definitions outside the target it resolves to."""
    d = index.definition(ref)
    uses: dict[str, list[Ref]] = {}
    for name in d.refs:
        for other, _ in index.resolve(ref.path, name):
            o = index.definition(other)
            if other != ref and not (other.path == ref.path and o.qualname.startswith(d.qualname + ".")):
                uses.setdefault(name, []).append(other)
    return uses


def _first_line(index: ProjectIndex, ref: Ref) -> str:
    d = index.definition(ref)
    return f"{d.start:>6}| {d.signature.splitlines()[0].rstrip()}"
