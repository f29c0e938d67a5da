"""Settlements a daemon could not send before it stopped (the team database was down),
kept beside its ledger and sent at the next start. Sending twice is harmless: the
database skips an attempt id it has."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import orjson

from daemon import private
from daemon.team.leases import Settled


def save(path: Path, settled: list[Settled]) -> None:
    rows = [
        {
            "attempt_id": s.attempt_id, "lease_id": s.lease_id, "keys": list(s.keys), "route": s.route,
            "provider": s.provider, "model": s.model, "usd": s.usd, "ts": s.ts.timestamp(),
        }
        for s in settled
    ]  # fmt: skip
    with private.file(path).open("ab") as f:
        f.writelines(orjson.dumps(r) + b"\n" for r in rows)


def load(path: Path) -> list[Settled]:
    if not path.exists():
        return []
    out = []
    for line in path.read_bytes().splitlines():
        try:
            r = orjson.loads(line)
            out.append(
                Settled(
                    r["attempt_id"], r["lease_id"], tuple(r["keys"]), r["route"], r["provider"], r["model"],
                    float(r["usd"]), datetime.fromtimestamp(r["ts"], UTC),
                )
            )  # fmt: skip
        except (ValueError, KeyError, TypeError):
            continue  # a line cut short by a crash
    return out
