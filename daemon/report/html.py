"""The recovery report as one self-contained HTML page: inline CSS and SVG, no script,
no network. Charts: the latency-coverage matrix of fallback paths, each path's latency
distribution, and spend per day against the daily limit. Answers continued after a cut
(``continue_on_cut``) get a card and a table of their own when there are any."""

from __future__ import annotations

import math
from html import escape
from typing import Any

from daemon.report.figures import continued, ms, path_name, share, usd

CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:1060px;color:#1d2430;background:#fafbfc}
h1{font-size:1.5rem;margin:0}h2{font-size:1.1rem;margin:2rem 0 .5rem}.sub{color:#5a6678}
.cards{display:flex;gap:1rem;margin:1.2rem 0}.card{flex:1;background:#fff;border:1px solid #dde3ea;
border-radius:8px;padding:.8rem 1rem}.card b{display:block;font-size:1.5rem}
table{border-collapse:collapse;width:100%;background:#fff}
th,td{padding:.3rem .6rem;text-align:right;border-bottom:1px solid #e6eaf0}
th:first-child,td:first-child{text-align:left}th{color:#5a6678;font-weight:600}
svg{background:#fff;border:1px solid #dde3ea;border-radius:8px}
svg text{font:11px system-ui,sans-serif;fill:#3a4556}
.probe{color:#7a4bb3}
"""
PALETTE = ("#2f6fde", "#e0672b", "#2a9d6f", "#b3479c", "#c9a227", "#4a9fc4", "#8a5a44", "#666")


def page(report: dict[str, Any]) -> str:
    w, t = report["window"], report["totals"]
    paths = [(r["route"], p) for r in report["routes"] for p in r["paths"]]
    cards = [
        ("requests", str(t["requests"])),
        (
            "primary failures recovered",
            f"{t['recovered']}/{t['primary_failures']} ({share(t['recovery_share'])})",
        ),
        ("cost per recovery", usd(t["cost_per_recovery_usd"])),
        ("failed attempts cost", usd(t["failed_attempts_usd"])),
        ("prompt cache saved", usd(t["cache_saved_usd"])),
    ]
    if t["continued"]:
        cards.append(("continued after a cut", f"{t['continued']} (saved {usd(t['continued_saved_usd'])})"))
    body = [
        f"<h1>detour recovery report</h1><div class=sub>{escape(w['name'])}: "
        f"{escape(w['start'][:16])} to {escape(w['end'][:16])}</div>",
        "<div class=cards>"
        + "".join(f"<div class=card>{escape(k)}<b>{escape(v)}</b></div>" for k, v in cards)
        + "</div>",
        "<h2>Failure modes on the primary</h2>",
        coverage_table(t),
        "<h2>Latency–coverage matrix of fallback paths</h2>",
        "<div class=sub>Across: total latency p50 (dot) to p99 (bar end), log scale. Up: the share "
        "of the route's primary failures the path recovered (direct paths: the share of requests "
        "the primary answered). Size: requests.</div>",
        matrix(report["routes"]),
        "<h2>Latency per path</h2>",
        paths_table(paths),
        distributions(paths),
        continued_table(t, paths),
        "<h2>What the prompt cache saved, per route</h2>",
        "<div class=sub>The answers priced without the cache, less what they cost.</div>",
        cache_table(report["routes"]),
        "<h2>Spend per day against the daily limit</h2>",
        spend_chart(report["spend"]),
        "<h2 class=probe>Synthetic probes</h2>",
        probes_table(report["probes"]),
    ]
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        "<meta name=viewport content='width=device-width,initial-scale=1'>"
        f"<title>detour recovery report</title><style>{CSS}</style></head><body>"
        + "\n".join(body)
        + "</body></html>\n"
    )


def table(head: list[str], rows: list[list[str]]) -> str:
    th = "".join(f"<th>{escape(h)}</th>" for h in head)
    trs = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><tr>{th}</tr>{trs}</table>"


def coverage_table(t: dict[str, Any]) -> str:
    rows = [
        [
            f["failure"],
            str(f["seen"]),
            str(f["recovered"]),
            str(f["failed"]),
            share(f["recovered"] / f["seen"]),
            str(f["continued"]),
        ]
        for f in t["by_failure"]
    ]
    rows.append(
        [
            "all",
            str(t["primary_failures"]),
            str(t["recovered"]),
            str(t["unrecovered"]),
            share(t["recovery_share"]),
            str(t["continued"]),
        ]
    )
    return table(["failure", "seen", "recovered", "still failed", "covered", "continued"], rows)


def continued_table(t: dict[str, Any], paths: list[tuple[str, dict[str, Any]]]) -> str:
    """Per path: the answers cut mid-stream that the next target finished, and their price."""
    if not t["continued"]:
        return ""
    rows = [
        [f"{route}: {path_name(p)}", str(p["continued"]), usd(p["continued_usd"]), usd(p["retry_usd"]),
         usd(p["continued_saved_usd"])]
        for route, p in paths
        if p["continued"]
    ]  # fmt: skip
    return (
        "<h2>Answers continued after a cut</h2>"
        f"<div class=sub>{escape(continued(t))}: the continuations' price against what the "
        "same targets would have charged to answer whole.</div>"
        + table(["path", "continued", "cost", "retry whole", "saved"], rows)
    )


def paths_table(paths: list[tuple[str, dict[str, Any]]]) -> str:
    rows = []
    for route, p in paths:
        lat, ttft = p["latency_ms"], p["ttft_ms"]
        rows.append(
            [f"{route}: {path_name(p)}", str(p["requests"]), ms(lat, "p50"), ms(lat, "p95"), ms(lat, "p99"),
             ms(lat, "stdev"), str(lat["n"]), ms(ttft, "p50"), ms(ttft, "p99"), str(ttft["n"]),
             usd(p["extra_usd"]) if p["failover"] else "-"]
        )  # fmt: skip
    head = ["path", "reqs", "p50 ms", "p95 ms", "p99 ms", "spread", "n", "ttft p50", "ttft p99", "n", "extra"]
    return table(head, rows)


def cache_table(routes: list[dict[str, Any]]) -> str:
    rows = [[r["route"], str(r["requests"]), usd(r["served_usd"]), usd(r["cache_saved_usd"])] for r in routes]
    return table(["route", "reqs", "answers cost", "cache saved"], rows)


class Scale:
    """Log-scale milliseconds onto [x0, x1] pixels."""

    def __init__(self, values: list[float], x0: float, x1: float) -> None:
        lo, hi = min(values, default=1.0), max(values, default=1000.0)
        self.lo = math.log10(max(0.1, lo) / 1.5)
        self.hi = max(self.lo + 1, math.log10(max(hi, 1.0) * 1.5))
        self.x0, self.x1 = x0, x1

    def __call__(self, v: float) -> float:
        f = (math.log10(max(v, 0.1)) - self.lo) / (self.hi - self.lo)
        return round(self.x0 + f * (self.x1 - self.x0), 1)

    def ticks(self) -> list[float]:
        """1, 2 and 5 of every decade in range: a log axis needs more than its powers of ten."""
        decades = range(math.floor(self.lo), math.ceil(self.hi) + 1)
        return [
            m * 10.0**e for e in decades for m in (1, 2, 5) if self.lo <= math.log10(m * 10.0**e) <= self.hi
        ]


def axis(scale: Scale, y: float, height: float) -> str:
    out = []
    for v in scale.ticks():
        x = scale(v)
        label = f"{v:g} ms" if v < 1000 else f"{v / 1000:g} s"
        out.append(f"<line x1={x} x2={x} y1=20 y2={y} stroke=#eef1f5 />")
        out.append(f"<text x={x} y={y + 14} text-anchor=middle>{label}</text>")
    return "".join(out)


def matrix(routes: list[dict[str, Any]]) -> str:
    W, H, L, B = 1000, 360, 60, 310
    points = []
    for r in routes:
        for p in r["paths"]:
            if not p["latency_ms"]["n"]:
                continue
            cov = p["recovered"] / r["primary_failures"] if p["failover"] else p["ok"] / r["requests"]
            if p["failover"] and not r["primary_failures"]:
                cov = 0.0
            points.append((f"{r['route']}: {path_name(p)}", p, cov))
    if not points:
        return empty(W, "no answered requests in this window")
    ends = [p["latency_ms"][k] for _, p, _ in points for k in ("p50", "p99")]
    scale = Scale(ends, L, W - 20)
    biggest = max(p["requests"] for _, p, _ in points)
    svg = [svg_open(W, H), axis(scale, B, H)]
    for f in (0, 0.25, 0.5, 0.75, 1.0):
        y = B - f * (B - 30)
        svg.append(f"<line x1={L} x2={W - 20} y1={y} y2={y} stroke=#eef1f5 />")
        svg.append(f"<text x={L - 6} y={y + 4} text-anchor=end>{int(f * 100)}%</text>")
    for i, (name, p, cov) in enumerate(points):
        color = PALETTE[i % len(PALETTE)]
        y = round(B - cov * (B - 30), 1)
        x50, x99 = scale(p["latency_ms"]["p50"]), scale(p["latency_ms"]["p99"])
        radius = round(4 + 10 * math.sqrt(p["requests"] / biggest), 1)
        svg.append(f"<line x1={x50} x2={x99} y1={y} y2={y} stroke={color} stroke-width=3 />")
        svg.append(f"<line x1={x99} x2={x99} y1={y - 6} y2={y + 6} stroke={color} stroke-width=2 />")
        svg.append(f"<circle cx={x50} cy={y} r={radius} fill={color} fill-opacity=.55 stroke={color} />")
        label = f"{escape(name)} ({share(cov)})"
        if x99 < W - 420:  # beside the end of its bar, else above it
            svg.append(f"<text x={x99 + 8} y={y + 4}>{label}</text>")
        else:
            svg.append(f"<text x={x50 + radius + 3} y={y - 6}>{label}</text>")
    svg.append(f"<text x={W // 2} y={H - 4} text-anchor=middle>total latency, p50 to p99</text>")
    return "".join(svg) + "</svg>"


def distributions(paths: list[tuple[str, dict[str, Any]]]) -> str:
    shown = [(r, p) for r, p in paths if p["latency_ms"]["n"]]
    if not shown:
        return ""
    W, row, L = 1000, 54, 330
    H = 40 + row * len(shown)
    samples = [x for _, p in shown for x in p["latencies_ms"]]
    scale = Scale(samples, L, W - 20)
    svg = [svg_open(W, H), axis(scale, H - 24, H)]
    for i, (route, p) in enumerate(shown):
        color, mid = PALETTE[i % len(PALETTE)], 30 + i * row + row / 2
        d = p["latency_ms"]
        svg.append(f"<text x=8 y={mid + 4}>{escape((route + ': ' + path_name(p))[:56])}</text>")
        lo, hi = scale(d["min"]), scale(d["max"])
        svg.append(f"<line x1={lo} x2={hi} y1={mid} y2={mid} stroke={color} stroke-width=1 />")
        x50, x95 = scale(d["p50"]), scale(d["p95"])
        box = max(1.0, x95 - x50)
        svg.append(f"<rect x={x50} y={mid - 9} width={box} height=18 fill={color} fill-opacity=.25 />")
        for k, text_y in (("p50", mid + 23), ("p99", mid - 14)):  # apart, however close they are
            x = scale(d[k])
            svg.append(f"<line x1={x} x2={x} y1={mid - 12} y2={mid + 12} stroke={color} stroke-width=2 />")
            svg.append(f"<text x={x} y={text_y} text-anchor=middle>{k} {d[k]:.0f}</text>")
        for j, v in enumerate(p["latencies_ms"]):
            jitter = ((j * 7919) % 13 - 6) * 1.2
            svg.append(f"<circle cx={scale(v)} cy={mid + jitter} r=1.8 fill={color} fill-opacity=.6 />")
        svg.append(f"<text x={W - 24} y={mid + 22} text-anchor=end>n={d['n']}</text>")
    return "".join(svg) + "</svg>"


def spend_chart(s: dict[str, Any]) -> str:
    days, limit = s["days"], s["daily_limit_usd"]
    W, H, L, B = 1000, 260, 70, 220
    peak = max([d["usd"] for d in days] + [limit or 0.0]) or 1.0
    slot = (W - L - 20) / max(1, len(days))
    svg = [svg_open(W, H)]
    for f in (0, 0.5, 1.0):
        y = B - f * (B - 30)
        svg.append(f"<line x1={L} x2={W - 20} y1={y} y2={y} stroke=#eef1f5 />")
        svg.append(f"<text x={L - 6} y={y + 4} text-anchor=end>${peak * f:.4g}</text>")
    for i, d in enumerate(days):
        h = (B - 30) * d["usd"] / peak
        x = L + i * slot + slot * 0.15
        color = "#d64545" if d["over_limit"] else "#2f6fde"
        svg.append(f"<rect x={x:.1f} y={B - h:.1f} width={slot * 0.7:.1f} height={h:.1f} fill={color} />")
        svg.append(f"<text x={x + slot * 0.35:.1f} y={B + 16} text-anchor=middle>{d['date'][5:]}</text>")
        svg.append(
            f"<text x={x + slot * 0.35:.1f} y={B - h - 4:.1f} text-anchor=middle>{usd(d['usd'], 4)}</text>"
        )
    if limit is not None:
        y = B - (B - 30) * limit / peak
        svg.append(f"<line x1={L} x2={W - 20} y1={y:.1f} y2={y:.1f} stroke=#d64545 stroke-dasharray='6 4' />")
        svg.append(f"<text x={W - 24} y={y - 4:.1f} text-anchor=end>daily limit {usd(limit, 2)}</text>")
    note = (
        f"mean {usd(s['mean_usd'], 4)} a day, spread {usd(s['stdev_usd'], 4)} "
        f"(variation {share(s['cv'])}), {s['days_over_limit']} days over the limit"
    )
    svg.append(f"<text x={L} y={H - 8}>{escape(note)}</text>")
    return "".join(svg) + "</svg>"


def probes_table(pr: dict[str, Any]) -> str:
    state = "on" if pr["enabled"] else "off (set [probe] enabled = true)"
    head = (
        f"<div class='sub probe'>Probes are {escape(state)}: {pr['runs']} runs in this window, "
        f"{escape(usd(pr['spent_today_usd'], 4))} of {escape(usd(pr['cap_usd_per_day'], 2))} today, "
        "outside every budget.</div>"
    )
    rows = [
        [p["target"], str(p["runs"]), str(p["ok"]), ms(p["latency_ms"], "p50"), ms(p["latency_ms"], "p99"),
         ms(p["ttft_ms"], "p50"), usd(p["usd"])]
        for p in pr["targets"]
    ]  # fmt: skip
    return head + (
        table(["target", "runs", "ok", "p50 ms", "p99 ms", "ttft p50", "spent"], rows) if rows else ""
    )


def svg_open(w: int, h: int) -> str:
    return f"<svg xmlns='http://www.w3.org/2000/svg' width={w} height={h} viewBox='0 0 {w} {h}' role=img>"


def empty(w: int, why: str) -> str:
    return f"{svg_open(w, 60)}<text x=20 y=35>{escape(why)}</text></svg>"
