"""``detour status``: one look at the running daemon (health, spend, providers), as text."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any, cast

from daemon.telemetry.schema import Status


class NoDaemon(Exception):
    """Nothing that is detour answers at the URL, or it refuses our token."""


def fetch(url: str, token: str, timeout_s: float = 5.0) -> Status:
    req = urllib.request.Request(url + "/status", headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as resp:
            return cast(Status, json.loads(resp.read()))
    except urllib.error.HTTPError as e:
        if e.code in (401, 403):
            raise NoDaemon(
                f"the daemon on {url} refused this machine's client token ({e.code}); "
                "is it running as another user?"
            ) from None
        raise NoDaemon(f"the daemon on {url} answered {e.code} to /status") from None
    except (OSError, ValueError):
        raise NoDaemon(
            f"no daemon answers on {url}; start it with `detour serve` (or `detour service install`)"
        ) from None


def render(url: str, s: Status) -> str:
    lines = [
        f"detour {s['version']} on {url}, up {_duration(s['uptime_s'])}"
        + (" - SIMULATED providers (no API keys)" if s["simulated"] else ""),
        f"requests in flight: {len(s['inflight'])}   failovers recently: {len(s['failovers'])}",
        "",
        f"{'budget':<9}{'spent':>11}{'limit':>11}  resets",
    ]
    for scope, w in s["budgets"].items():
        limit = "-" if w["limit_usd"] is None else f"${w['limit_usd']:.2f}"
        lines.append(
            f"{scope:<9}{'$' + format(w['spent_usd'], '.4f'):>11}{limit:>11}  {w['resets_at'] or '-'}"
        )
    team = s.get("team")
    if team is not None:
        for scope, w in team["budgets"].items():
            limit = "-" if w["limit_usd"] is None else f"${w['limit_usd']:.2f}"
            spent = "$" + format(w["spent_usd"], ".4f")
            lines.append(f"{scope:<12}{spent:>8}{limit:>11}  {w['resets_at'] or '-'}")
        state = "up" if team["state"] == "up" else f"DOWN (unreachable since {team['since']})"
        lines.append(
            f"team database {team['database']}: {state}; member {team['member']}: "
            f"${team['member_week_usd']:.4f} this week, ${team['member_day_usd']:.4f} today"
            + (f", ${team['offline_spent_usd']:.4f} spent offline" if team["state"] != "up" else "")
        )
    lines += ["", f"{'provider':<16}{'kind':<18}state"]
    for p in s["providers"]:
        lines.append(f"{p['id']:<16}{p['kind']:<18}{_provider_state(cast(dict[str, Any], p))}")
        for t in p["targets"]:
            if t["state"] != "healthy" or t["requests"]:
                p50 = "-" if t["p50_ms"] is None else f"{t['p50_ms']:.0f}ms"
                reason = f" ({t['reason']})" if t["reason"] else ""
                lines.append(
                    f"  {t['model']:<30}{t['state']}{reason}  p50 {p50}  {t['errors']}/{t['requests']} errors"
                )
    return "\n".join(lines)


def _provider_state(p: dict[str, Any]) -> str:
    if p.get("paused"):
        return "paused"
    if not p["has_key"] and p["kind"] != "sim":
        return "no key"
    bad = [t for t in p["targets"] if t["state"] != "healthy"]
    return "healthy" if not bad else f"{len(bad)} of {len(p['targets'])} models unhealthy"


def _duration(seconds: float) -> str:
    m, s = divmod(int(seconds), 60)
    h, m = divmod(m, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s"
