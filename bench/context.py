"""Pruned context on a real repository: index speed, freshness, query latency, tokens and recall.

The source of a pure-Python package from PyPI (default: networkx) is unpacked
to a temporary directory and indexed: cold (every file parsed), warm (a
restart on the cache), the time from an atomic save to the watched index
answering with the new signature, and queries for 100 seeded-random targets.
For each target and budget (1k/2k/4k tokens) it compares the tokens of the
context with the tokens of the whole file the target lives in, and measures
depth-1 recall: of the names the target's body uses that are defined
elsewhere in the repo (by the index's resolution: imports followed, external
names not counted), the share whose definition the context shows outside the
target's own text. With ``--aider PYTHON`` (a Python that has ``aider-chat``,
in a throwaway venv) aider's RepoMap is run on the same targets at the same
budgets and measured the same way; its map leaves the target's own text out,
so the target's lines are added to its tokens. Both are counted with the real
tokenizer the context uses (cl100k_base BPE); against the budget it prints the
mean and the largest share used and how many answers went over, and the share
whose target is shown in full. For targets of at most 70 lines it also gives
the share shown whole with every depth-1 dependency (the acceptance of issue 21).

    .venv/bin/python bench/context.py [--wheel FILE.whl] [--aider /tmp/aider-venv/bin/python]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from daemon.context import extract  # noqa: E402
from daemon.context.index import ProjectIndex, Ref  # noqa: E402
from daemon.context.tokens import count  # noqa: E402
from daemon.context.watch import watch  # noqa: E402

BUDGETS = (1000, 2000, 4000)
TARGETS = 100
SHORT = 70  # lines: a target this long fits a 2k budget with what it uses
AIDER_SCRIPT = Path(__file__).with_name("_aider_map.py")


def unpack(wheel: Path | None, tmp: Path) -> Path:
    if wheel is None:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary", ":all:"]
            + ["networkx", "-d", str(tmp)],
            check=True,
        )
        wheel = next(tmp.glob("*.whl"))
    root = tmp / "src"
    with zipfile.ZipFile(wheel) as z:
        z.extractall(root, [n for n in z.namelist() if n.endswith(".py")])
    return root


def pick_targets(index: ProjectIndex, n: int) -> list[tuple[Ref, str]]:
    """Functions and methods of at least five lines that use something defined elsewhere."""
    pool = []
    for rel, entry in sorted(index.files.items()):
        if entry.symbols is None or "/tests/" in rel or rel.startswith("tests/"):
            continue
        for i, d in enumerate(entry.symbols.definitions):
            if d.kind in ("function", "method") and d.end - d.start >= 4 and truth(index, Ref(rel, i)):
                pool.append((Ref(rel, i), f"{rel}::{d.qualname}"))
    return random.Random(15).sample(pool, min(n, len(pool)))


def truth(index: ProjectIndex, ref: Ref) -> set[str]:
    """Names the target uses whose definition lives elsewhere in the repo."""
    d = index.definition(ref)
    names = set()
    for name in d.refs:
        for other, _ in index.resolve(ref.path, name):
            o = index.definition(other)
            inside = other.path == ref.path and o.qualname.startswith(d.qualname + ".")
            if other != ref and not inside:
                names.add(name)
                break
    return names


def recall(text: str, target_body: str, names: set[str]) -> float:
    """Share of ``names`` whose definition the text shows: ``def NAME`` / ``class NAME``."""
    shown = set(re.findall(r"\b(?:def|class)\s+(\w+)", text.replace(target_body, "")))
    return len(names & shown) / len(names) if names else 1.0


def pct(values: list[float], p: float) -> float:
    return statistics.quantiles(values, n=100)[int(p) - 1] if len(values) > 1 else values[0]


async def update_latency(index: ProjectIndex, rel: str, old: str, new: str) -> float:
    task = asyncio.create_task(watch(index), name="bench-watch")
    await asyncio.sleep(0.5)
    path = index.root / rel
    text = path.read_text()
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text.replace(old, new, 1))
    started = time.perf_counter()
    os.replace(tmp, path)
    while not _shows(index, rel, new):
        await asyncio.sleep(0.002)
    took = time.perf_counter() - started
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    return took


def _shows(index: ProjectIndex, rel: str, signature: str) -> bool:
    symbols = index.symbols(rel)
    return symbols is not None and any(signature in d.signature for d in symbols.definitions)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--wheel", type=Path, help="a pure-Python wheel (default: download networkx)")
    ap.add_argument("--aider", help="a Python with aider-chat installed, to compare its RepoMap")
    ap.add_argument("--aider-targets", type=int, default=30, help="how many of the targets aider maps")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="detour-bench-context-") as t:
        tmp = Path(t)
        root = unpack(args.wheel, tmp)
        index = timings(root, tmp / "cache", args.wheel or "networkx")
        targets = pick_targets(index, TARGETS)
        queries(index, targets)
        bodies: dict[str, str] = {}
        numbered: dict[str, str] = {}  # the target's text as the context shows it
        lines: dict[str, int] = {}
        truths: dict[str, set[str]] = {}
        full: dict[str, int] = {}
        for ref, target in targets:
            text = (root / ref.path).read_text()
            d = index.definition(ref)
            body = text.splitlines()[d.start - 1 : d.end]
            bodies[target] = "\n".join(body)
            numbered[target] = "\n".join(f"{d.start + i:>6}| {line}" for i, line in enumerate(body))
            lines[target] = len(body)
            truths[target] = truth(index, ref)
            full[target] = count(text)
        ours = {b: {t: extract.context(index, t, b).text for _, t in targets} for b in BUDGETS}
        report("detour", ours, bodies, truths, full)
        shown_whole(ours, numbered, truths, lines)
        if args.aider:
            # aider ranks the whole repo again for every target (seconds each): a subset.
            subset = [t for _, t in targets[: args.aider_targets]]
            print(f"on the first {len(subset)} targets:")
            report("detour", {b: {t: ours[b][t] for t in subset} for b in BUDGETS}, bodies, truths, full)
            report("aider RepoMap", aider_maps(args.aider, root, subset), bodies, truths, full)


def timings(root: Path, cache: Path, source: object) -> ProjectIndex:
    cold = ProjectIndex(root, cache_dir=cache)
    stats = cold.build()
    usage = [resource.getrusage(who).ru_maxrss for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    lines = sum(e.symbols.lines for e in cold.files.values() if e.symbols)
    print(f"repository: {source}: {stats.files} files, {lines} lines")
    rate = stats.files / stats.seconds
    print(f"cold index: {stats.seconds:.2f}s = {rate:.0f} files/s; peak RSS {max(usage) / 1024:.0f} MiB")
    warm = ProjectIndex(root, cache_dir=cache)
    w = warm.build()
    print(f"warm start: {w.seconds:.2f}s, {w.parsed} files parsed")
    return warm


def queries(index: ProjectIndex, targets: list[tuple[Ref, str]]) -> None:
    times = []
    for _, target in targets:
        started = time.perf_counter()
        extract.context(index, target, 2000)
        times.append((time.perf_counter() - started) * 1000)
    p50, p95 = pct(times, 50), pct(times, 95)
    print(f"query ({len(targets)} targets, 2k budget): p50 {p50:.1f} ms, p95 {p95:.1f} ms")
    ref, _ = targets[0]
    d = index.definition(ref)
    first = next(line for line in d.signature.splitlines() if "(" in line)
    took = asyncio.run(update_latency(index, ref.path, first, first.replace("(", "(fresh_arg, ", 1)))
    print(f"update after an atomic save: {took * 1000:.0f} ms until the watched index has the new signature")


def report(
    who: str,
    texts: dict[int, dict[str, str]],
    bodies: dict[str, str],
    truths: dict[str, set[str]],
    full: dict[str, int],
) -> None:
    for budget, per_target in texts.items():
        used = [count(t) for t in per_target.values()]
        whole = sum(full[t] for t in per_target)
        # aider's map does not carry the target's own text: count it in, as an agent would need it.
        if who != "detour":
            used = [u + count(bodies[t]) for t, u in zip(per_target, used, strict=True)]
        r = statistics.mean(recall(per_target[t], bodies[t], truths[t]) for t in per_target)
        saved = 1 - sum(used) / whole
        mean, over = statistics.mean(used), sum(u > budget for u in used)
        print(
            f"{who:>14} @ {budget:>4}: {mean:5.0f} tokens per target = "
            f"{mean / budget:4.0%} of the budget (max {max(used) / budget:4.0%}, {over} over); "
            f"{saved:.0%} fewer than the whole files (mean {whole / len(used):.0f}); depth-1 recall {r:.0%}"
        )


def shown_whole(
    texts: dict[int, dict[str, str]],
    numbered: dict[str, str],
    truths: dict[str, set[str]],
    lines: dict[str, int],
) -> None:
    """The target's every line, and with it every depth-1 dependency's definition."""
    short = [t for t in numbered if lines[t] <= SHORT]
    for budget, per_target in texts.items():
        full = {t for t in per_target if numbered[t] in per_target[t]}
        complete = {t for t in full if recall(per_target[t], numbered[t], truths[t]) == 1.0}
        print(
            f"{'detour':>14} @ {budget:>4}: target shown in full {len(full) / len(per_target):4.0%}; "
            f"of the {len(short)} targets of <= {SHORT} lines, in full with every depth-1 "
            f"dependency {len(complete & set(short)) / max(1, len(short)):4.0%}"
        )


def aider_maps(python: str, root: Path, targets: list[str]) -> dict[int, dict[str, str]]:
    out = root.parent / "aider.json"
    subprocess.run(
        [python, str(AIDER_SCRIPT), str(root), json.dumps(targets), json.dumps(BUDGETS), str(out)],
        check=True,
        capture_output=True,
    )
    raw = json.loads(out.read_text())
    return {int(b): v for b, v in raw.items()}


if __name__ == "__main__":
    main()
