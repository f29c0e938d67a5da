"""How the report's figures are written, in the terminal table, the HTML page and the TUI.

Pure and import-free: the TUI uses it too, and the TUI loads nothing else of the daemon
but the event schema.
"""

from __future__ import annotations

from typing import Any


def usd(x: float | None, digits: int = 6) -> str:
    return "-" if x is None else f"{'-' if x < 0 else ''}${abs(x):.{digits}f}"


def ms(d: dict[str, Any], key: str) -> str:
    """A figure of a latency distribution, or "-" when it has no samples."""
    return "-" if not d.get("n") else f"{d[key]:.0f}"


def share(x: float | None) -> str:
    return "-" if x is None else f"{x * 100:.1f}%"


def path_name(p: dict[str, Any], arrow: str = "->") -> str:
    """A fallback path: the chain's first model, and what served when that was another."""
    return f"{p['primary']} (direct)" if not p["failover"] else f"{p['primary']} {arrow} {p['served']}"


def continued(c: dict[str, Any], digits: int = 6) -> str:
    """Answers cut mid-stream and finished by the next target, against retrying them whole."""
    n = c["continued"]
    return (
        f"{n} cut answer{'s' * (n != 1)} continued: {usd(c['continued_usd'], digits)}, against "
        f"{usd(c['retry_usd'], digits)} to retry {'them' if n != 1 else 'it'} whole "
        f"(saved {usd(c['continued_saved_usd'], digits)})"
    )
