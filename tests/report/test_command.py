"""``detour report`` and the pieces under it: windows, quantiles, the [probe] config."""

from __future__ import annotations

import socket
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import aiohttp
import pytest

from daemon.cli import main
from daemon.config import ConfigError, ProbeConfig, parse
from daemon.report.measures import BadWindow, quantile, window
from tests.daemon_harness import start_daemon
from tests.fakes.base import Fault
from tests.fakes.openai_chat import FakeOpenAI
from tests.report.test_report_e2e import KEY, config, send

TZ = timezone(timedelta(hours=2))


def test_windows_are_local_days() -> None:
    now = datetime(2026, 12, 9, 10, 30, tzinfo=UTC)  # a Wednesday
    day, week = window("day", now, TZ), window("week", now, TZ)
    assert day.start == datetime(2026, 12, 9, tzinfo=TZ) and day.end == now
    assert week.start == datetime(2026, 12, 7, tzinfo=TZ)
    assert [d.isoformat() for d in week.days()] == ["2026-12-07", "2026-12-08", "2026-12-09"]
    span = window("2026-11-30..2026-12-01", now, TZ)
    assert (span.start, span.end) == (datetime(2026, 11, 30, tzinfo=TZ), datetime(2026, 12, 2, tzinfo=TZ))
    for bad in ("month", "2026-12-02..2026-12-01", "2026-13-01"):
        with pytest.raises(BadWindow):
            window(bad, now, TZ)


def test_quantiles_interpolate_between_ranks() -> None:
    data = [10.0, 20.0, 30.0, 40.0, 1000.0]
    assert [quantile(data, q) for q in (0.5, 0.95, 0.99)] == [
        30.0,
        pytest.approx(808.0),
        pytest.approx(961.6),
    ]
    assert quantile([7.0], 0.99) == 7.0


def test_probe_config() -> None:
    assert parse("").probe == ProbeConfig(False, 3600.0, 0.10)
    assert parse("[probe]\nenabled = true\nevery_s = 60\ncap_usd_per_day = 1").probe == ProbeConfig(
        True, 60.0, 1.0
    )
    for bad in ("every_s = 0", "cap_usd_per_day = -1", "enabled = 1", "often = true"):
        with pytest.raises(ConfigError):
            parse(f"[probe]\n{bad}\n")


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_report_command_reads_the_ledger_when_no_daemon_runs(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("DETOUR_REPORT_KEY", KEY)
    prim, fb = await FakeOpenAI(key=KEY).start(), await FakeOpenAI(key=KEY).start()
    text = config(prim, fb) + f"\n[server]\nport = {closed_port()}\n"
    daemon = await start_daemon(text, data_dir=tmp_path / "data" / "detour")
    try:
        prim.script.append(Fault(429, "Rate limit reached", {"retry-after": "0"}))
        async with aiohttp.ClientSession() as http:
            assert [await send(http, daemon, i) for i in range(3)] == [200] * 3
    finally:
        await daemon.close()
        await prim.close()
        await fb.close()
    (tmp_path / "config.toml").write_text(text)
    page = tmp_path / "report.html"
    args = ["report", "--config", str(tmp_path / "config.toml"), "--window", "week", "--html", str(page)]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "requests 3   primary failures 1   recovered 1 (100.0%)   still failed 0" in out
    assert "read from the ledger directly" in out
    assert "<svg" in page.read_text()
    assert main(["report", "--config", str(tmp_path / "config.toml"), "--window", "fortnight"]) == 2


@pytest.mark.parametrize("window", ["0001-01-01..9999-12-31", "9999-12-31..9999-12-31", "9999-12-31"])
def test_impossible_windows_are_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], window: str
) -> None:
    (tmp_path / "config.toml").write_text("")
    assert main(["report", "--config", str(tmp_path / "config.toml"), "--window", window]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1 and window in err
