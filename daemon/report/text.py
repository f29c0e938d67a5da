"""The recovery report as a terminal table (``detour report``)."""

from __future__ import annotations

from typing import Any

from daemon.report.figures import continued, ms, path_name, share, usd


def coverage_lines(c: dict[str, Any]) -> list[str]:
    lines = [
        f"requests {c['requests']}   primary failures {c['primary_failures']}   "
        f"recovered {c['recovered']} ({share(c['recovery_share'])})   still failed {c['unrecovered']}",
    ]
    if c["by_failure"]:
        lines += [
            "",
            f"  {'failure on the primary':<24}{'seen':>6}{'recovered':>11}{'failed':>8}{'continued':>11}",
        ]
        for f in c["by_failure"]:
            lines.append(
                f"  {f['failure']:<24}{f['seen']:>6}{f['recovered']:>11}{f['failed']:>8}{f['continued']:>11}"
            )
    return lines


PATH_HEADER = (
    f"  {'path':<44}{'reqs':>5}{'ok':>5}{'p50':>7}{'p95':>7}{'p99':>7}{'spread':>8}"
    f"{'ttft50':>8}{'ttft99':>8}{'extra':>11}"
)


def path_line(p: dict[str, Any]) -> str:
    lat, ttft = p["latency_ms"], p["ttft_ms"]
    return (
        f"  {path_name(p)[:43]:<44}{p['requests']:>5}{p['ok']:>5}{ms(lat, 'p50'):>7}{ms(lat, 'p95'):>7}"
        f"{ms(lat, 'p99'):>7}{ms(lat, 'stdev'):>8}{ms(ttft, 'p50'):>8}{ms(ttft, 'p99'):>8}"
        f"{usd(p['extra_usd'] if p['failover'] else None, 5):>11}"
    )


def render(report: dict[str, Any]) -> str:
    w, t, s, pr = report["window"], report["totals"], report["spend"], report["probes"]
    out = [f"detour recovery report: {w['name']}  ({w['start'][:16]} to {w['end'][:16]})", ""]
    out += coverage_lines(t)
    out += [
        "",
        f"cost of recoveries  {usd(t['extra_usd'])} beyond the primaries' price, "
        f"{usd(t['cost_per_recovery_usd'])} per recovery",
        f"failed attempts     {usd(t['failed_attempts_usd'])}   served answers {usd(t['served_usd'])}",
        f"prompt cache saved  {usd(t['cache_saved_usd'])} (the answers priced without it, less their cost)",
    ]
    if t["continued"]:
        out.append(f"continuations       {continued(t)}")
    for r in report["routes"]:
        out += [
            "",
            f"route {r['route']}: {r['recovered']}/{r['primary_failures']} primary failures recovered, "
            f"prompt cache saved {usd(r['cache_saved_usd'])}",
        ]
        out += [PATH_HEADER + "   (ms; n samples below)"]
        for p in r["paths"]:
            out.append(path_line(p))
            out.append(f"  {'':<44}{'':>10}  n={p['latency_ms']['n']} latency, n={p['ttft_ms']['n']} ttft")
            if p["continued"]:
                out.append(f"  {'':<44}{'':>10}  {continued(p, 5)}")
    limit = s["daily_limit_usd"]
    out += ["", f"spend per day (daily limit {usd(limit, 2) if limit is not None else 'none'})"]
    peak = max([d["usd"] for d in s["days"]] + [limit or 0.0]) or 1.0
    for d in s["days"]:
        bar = "#" * round(30 * d["usd"] / peak)
        out.append(f"  {d['date']}  {usd(d['usd'], 4):>10}  {bar}{'  OVER LIMIT' if d['over_limit'] else ''}")
    out.append(
        f"  mean {usd(s['mean_usd'], 4)}  spread {usd(s['stdev_usd'], 4)}  "
        f"variation {share(s['cv'])}  days over limit {s['days_over_limit']}"
    )
    out += ["", probe_summary(pr)]
    for p in pr["targets"]:
        lat = p["latency_ms"]
        out.append(
            f"  {p['target']:<44}{p['runs']:>5}{p['ok']:>5}{ms(lat, 'p50'):>7}{ms(lat, 'p95'):>7}"
            f"{ms(lat, 'p99'):>7}  {usd(p['usd'])}"
        )
    return "\n".join(out)


def probe_summary(pr: dict[str, Any]) -> str:
    state = "on" if pr["enabled"] else "off ([probe] enabled = true)"
    return (
        f"probes {state}: {pr['runs']} runs in the window, {usd(pr['spent_today_usd'], 4)} of "
        f"{usd(pr['cap_usd_per_day'], 2)} today (their own cap, outside your budgets)"
    )
