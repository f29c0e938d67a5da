"""The context for a target within a token budget.

A symbol target comes in full, under the headers of its enclosing scopes;
what it uses follows, ranked by a personalized PageRank from the target over
the symbol graph (depth-1: signature and first docstring line; depth-2:
signature only), chosen by value per token until the budget is spent. A file
target comes as its outline (every definition's signature and docstring line),
then what its definitions use. Plain text, every line with its path and line
number, so an agent can open or edit exactly there.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field

from daemon.context.index import ProjectIndex, Ref
from daemon.context.parse import Definition
from daemon.context.tokens import count

_DAMPING = 0.85
_ROUNDS = 20
_TARGET_SHARE = 0.65  # a target bigger than this share of the budget is cut, to show what it uses
_OVERLOAD = re.compile(r"^\s*@(?:\w+\.)?overload\b", re.MULTILINE)


class TargetNotFound(LookupError):
    pass


@dataclass(slots=True)
class Context:
    text: str
    tokens: int
    files: list[str] = field(default_factory=list)


def split_target(target: str) -> tuple[str, str]:
    path, _, symbol = target.partition("::")
    path = path.strip().replace("\\", "/")
    return path.removeprefix("./"), symbol.strip()


def context(index: ProjectIndex, target: str, budget: int) -> Context:
    rel, symbol = split_target(target)
    with index.lock:
        symbols = index.symbols(rel)
        if rel not in index.files:
            raise TargetNotFound(f"{rel!r} is not an indexed file of {index.root}")
        if symbols is None:
            raise TargetNotFound(f"{rel!r} is binary or generated; detour does not index it")
        if symbol:
            ref = find(index, rel, symbol)
            return _symbol_context(index, ref, budget)
        return _file_context(index, rel, budget)


def find(index: ProjectIndex, rel: str, symbol: str) -> Ref:
    symbols = index.symbols(rel)
    assert symbols is not None
    defs = symbols.definitions
    exact = [i for i, d in enumerate(defs) if d.qualname == symbol]
    named = exact or [i for i, d in enumerate(defs) if d.qualname.endswith("." + symbol) or d.name == symbol]
    if not named:
        known = ", ".join(d.qualname for d in defs[:20])
        raise TargetNotFound(f"no symbol {symbol!r} in {rel}; it defines: {known or 'nothing'}")
    # Python's @overload stubs come before the function that runs: that one is the target.
    bodies = [i for i in named if not _OVERLOAD.search(defs[i].signature)]
    return Ref(rel, (bodies or named)[0])


def outline(index: ProjectIndex, rel: str) -> str:
    with index.lock:
        symbols = index.symbols(rel)
        if symbols is None:
            raise TargetNotFound(f"{rel!r} is not an indexed source file of {index.root}")
        return "\n".join(_outline_lines(rel, symbols.definitions, symbols.lines))


def find_symbol(index: ProjectIndex, name: str, limit: int = 50) -> str:
    with index.lock:
        tail = name.rpartition(".")[2]
        lines = []
        for ref in index.named(tail):
            d = index.definition(ref)
            if d.qualname == name or d.name == name or d.qualname.endswith("." + name):
                lines.append(f"{ref.path}:{d.start} {d.kind} {d.qualname}: {_first(d.signature)}")
        return "\n".join(sorted(lines)[:limit])


# -- a symbol -------------------------------------------------------------------


def _symbol_context(index: ProjectIndex, ref: Ref, budget: int) -> Context:
    d = index.definition(ref)
    symbols = index.symbols(ref.path)
    assert symbols is not None
    source = _lines(index, ref.path)
    head = [f"# {ref.path} ({symbols.language}) target {d.qualname}, lines {d.start}-{d.end}"]
    parent = d.parent
    scopes: list[Definition] = []
    while parent is not None:
        # The one that encloses it: a Rust struct and its impl share a name. A Go method's
        # receiver type encloses nothing, and is its scope all the same.
        named = [x for x in symbols.definitions if x.qualname == parent]
        outer = next((x for x in named if x.start <= d.start <= d.end <= x.end), named[0] if named else None)
        if outer is None:
            break
        scopes.append(outer)
        parent = outer.parent
    for outer in reversed(scopes):
        head.extend(_numbered(outer.start, outer.signature.splitlines()))
        head.append("    ...")
    body = _numbered(d.start, source[d.start - 1 : d.end])
    text = "\n".join(head + body)
    if count(text) > budget * _TARGET_SHARE and d.doc_lines is not None:
        # Too big to leave room for what it uses: its docstring goes first (the first line stays).
        first, last = d.doc_lines
        if last > first:
            cut = f"{'':>6}  [detour: docstring lines {first + 1}-{last} left out]"
            body = body[: first - d.start + 1] + [cut] + body[last - d.start + 1 :]
            text = "\n".join(head + body)
    used = count(text)
    if used > budget * _TARGET_SHARE:
        text, used = _truncate(head, body, int(budget * _TARGET_SHARE))
    shown = {Ref(ref.path, symbols.definitions.index(s)) for s in scopes}
    deps, files = _dependencies(index, [ref], budget - used, exclude={ref, *shown})
    if deps:
        text += "\n\n" + deps
        used = count(text)
    return Context(text, used, sorted({ref.path, *files}, key=lambda p: p != ref.path))


def _truncate(head: list[str], body: list[str], budget: int) -> tuple[str, int]:
    kept: list[str] = []
    used = count("\n".join(head)) + 20
    for line in body:
        cost = count(line) + 1
        if used + cost > budget:
            break
        kept.append(line)
        used += cost
    note = f"[detour: {len(body) - len(kept)} more lines not shown: over the budget]"
    text = "\n".join(head + kept + [note])
    return text, count(text)


# -- a file ---------------------------------------------------------------------


def _file_context(index: ProjectIndex, rel: str, budget: int) -> Context:
    symbols = index.symbols(rel)
    assert symbols is not None
    lines = _outline_lines(rel, symbols.definitions, symbols.lines)
    text = "\n".join(lines)
    if count(text) > budget:
        top = [d for d in symbols.definitions if d.parent is None]
        text = "\n".join(_outline_lines(rel, top, symbols.lines))
        if count(text) > budget:
            text, _ = _truncate([], text.splitlines(), budget)
        return Context(text, count(text), [rel])
    refs = [Ref(rel, i) for i in range(len(symbols.definitions))]
    deps, files = _dependencies(index, refs, budget - count(text), exclude=set(refs))
    if deps:
        text += "\n\n" + deps
    return Context(text, count(text), [rel, *sorted(set(files) - {rel})])


def _outline_lines(rel: str, defs: list[Definition], total: int) -> list[str]:
    out = [f"# {rel}: outline ({total} lines)"]
    for d in defs:
        depth = d.qualname.count(".") if d.parent else 0
        pad = "    " * depth
        sig = [pad + s.strip() for s in d.signature.splitlines()]
        out.extend(_numbered(d.start, sig))
        if d.doc:
            out.append(f"{'':>6}  {pad}    {d.doc}")
    return out


# -- what the targets use ----------------------------------------------------------


def _dependencies(
    index: ProjectIndex, seeds: list[Ref], room: int, exclude: set[Ref]
) -> tuple[str, list[str]]:
    if room <= 0:
        return "", []
    edges: dict[Ref, list[tuple[Ref, float]]] = {}
    depth: dict[Ref, int] = {}
    frontier = list(seeds)
    for level in (1, 2):
        nxt: list[Ref] = []
        for src in frontier:
            uses = edges.setdefault(src, _uses(index, src))
            for dst, _ in uses:
                if dst not in depth and dst not in exclude and not _inside(index, dst, seeds):
                    depth[dst] = level
                    nxt.append(dst)
        frontier = nxt
    if not depth:
        return "", []
    rank = _pagerank(edges, seeds)
    # Tiers, each filled by value per token: every direct dependency's signature first
    # (recall), then their docstring lines, then what they use in turn.
    offers: list[tuple[int, float, int, Ref]] = []
    for ref, level in depth.items():
        d = index.definition(ref)
        sig = count(_entry(d, with_doc=False)) + 1
        if level == 1:
            offers.append((0, rank.get(ref, 0.0) / sig, sig, ref))
            if d.doc:
                doc = count(d.doc) + 2
                offers.append((1, rank.get(ref, 0.0) / doc, doc, ref))
        else:
            offers.append((2, rank.get(ref, 0.0) / sig, sig, ref))
    offers.sort(key=lambda o: (o[0], -o[1], o[3].path, o[3].at))
    title = "# used by the target (signatures; full text at the path and line)"
    spent = count(title) + 2
    shown: dict[Ref, bool] = {}  # ref -> with its docstring line
    paths: set[str] = set()
    for tier, _, cost, ref in offers:
        if tier == 1 and ref not in shown:
            continue
        file_cost = 0 if ref.path in paths else count(ref.path) + 3
        if spent + cost + file_cost > room:
            continue
        spent += cost + file_cost
        paths.add(ref.path)
        shown[ref] = tier == 1
    chosen: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for ref, with_doc in shown.items():
        d = index.definition(ref)
        chosen[ref.path].append((d.start, _entry(d, with_doc)))
    if not chosen:
        return "", []
    out: list[str] = [title]
    for path in sorted(chosen):
        out.append(f"## {path}")
        out.extend(e for _, e in sorted(chosen[path]))
    return "\n".join(out), list(chosen)


def _uses(index: ProjectIndex, src: Ref) -> list[tuple[Ref, float]]:
    d = index.definition(src)
    found: dict[Ref, float] = {}
    for name in d.refs:
        for ref, weight in index.resolve(src.path, name):
            if ref != src:
                found[ref] = max(found.get(ref, 0.0), weight)
    return list(found.items())


def _inside(index: ProjectIndex, ref: Ref, seeds: list[Ref]) -> bool:
    """A definition nested in a seed is already shown in full."""
    d = index.definition(ref)
    for seed in seeds:
        s = index.definition(seed)
        if seed.path == ref.path and d.qualname.startswith(s.qualname + "."):
            return True
    return False


def _pagerank(edges: dict[Ref, list[tuple[Ref, float]]], seeds: list[Ref]) -> dict[Ref, float]:
    """Personalized PageRank from the seeds, on integer ids (hashing refs every round is slow)."""
    ids: dict[Ref, int] = {}
    for src, out in edges.items():
        ids.setdefault(src, len(ids))
        for dst, _ in out:
            ids.setdefault(dst, len(ids))
    for s in seeds:
        ids.setdefault(s, len(ids))
    n = len(ids)
    links: list[list[tuple[int, float]]] = [[] for _ in range(n)]
    for src, out in edges.items():
        total = sum(w for _, w in out)
        links[ids[src]] = [(ids[dst], w / total) for dst, w in out]
    restart = [0.0] * n
    for s in seeds:
        restart[ids[s]] = 1.0 / len(seeds)
    rank = list(restart)
    for _ in range(_ROUNDS):
        nxt = [(1 - _DAMPING) * r for r in restart]
        dangling = 0.0
        for i, score in enumerate(rank):
            if not score:
                continue
            out_i = links[i]
            if not out_i:
                dangling += score  # returns to the seeds
                continue
            for j, w in out_i:
                nxt[j] += _DAMPING * score * w
        if dangling:
            for i, r in enumerate(restart):
                if r:
                    nxt[i] += _DAMPING * dangling * r
        rank = nxt
    return {ref: rank[i] for ref, i in ids.items()}


def _entry(d: Definition, with_doc: bool) -> str:
    lines = _numbered(d.start, [s.rstrip() for s in d.signature.splitlines()])
    if with_doc and d.doc:
        lines.append(f"{'':>6}      {d.doc}")
    return "\n".join(lines)


def _numbered(start: int, lines: list[str]) -> list[str]:
    return [f"{start + i:>6}| {line}" for i, line in enumerate(lines)]


def _first(signature: str) -> str:
    lines = [s.strip() for s in signature.splitlines() if s.strip()]
    decorated = [s for s in lines if not s.startswith("@")]
    return (decorated or lines or [""])[0]


def _lines(index: ProjectIndex, rel: str) -> list[str]:
    try:
        return (index.root / rel).read_text(errors="replace").splitlines()
    except OSError:
        return []
