"""`detour service`: each platform's files rendered from packaging/ with the real command,
checked by the platform's own validator where this machine has one."""

from __future__ import annotations

import os
import plistlib
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path

import pytest

from daemon import service

TASK_NS = "{http://schemas.microsoft.com/windows/2004/02/mit/task}"
# Task Scheduler's schema (version 1.2): the children Task and Settings may have (xs:all, any order).
TASK_CHILDREN = ["RegistrationInfo", "Triggers", "Principals", "Settings", "Data", "Actions"]
SETTINGS_CHILDREN = [
    "AllowStartOnDemand", "RestartOnFailure", "MultipleInstancesPolicy", "DisallowStartIfOnBatteries",
    "StopIfGoingOnBatteries", "AllowHardTerminate", "StartWhenAvailable", "NetworkProfileName",
    "RunOnlyIfNetworkAvailable", "WakeToRun", "Enabled", "Hidden", "DeleteExpiredTaskAfter", "IdleSettings",
    "NetworkSettings", "ExecutionTimeLimit", "Priority", "RunOnlyIfIdle", "UseUnifiedSchedulingEngine",
    "DisallowStartOnRemoteAppSession",
]  # fmt: skip
ODD = ["/opt/My Apps & Tools/bin/python3", "-m", "daemon.cli"]  # spaces, an ampersand, extra arguments


@pytest.mark.skipif(
    shutil.which("systemd-analyze") is None,
    reason="systemd-analyze is not installed (Debian package `systemd`); installing it in CI costs more "
    "than the check is worth, so the unit is checked where systemd is present",
)
def test_systemd_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    p = service.plan("systemd", tmp_path / "home", with_tray=True)
    assert [f.path.name for f in p.files] == ["detour.service", "detour-tray.service"]
    out = tmp_path / "units"
    out.mkdir()
    for f in p.files:
        (out / f.path.name).write_text(f.text)
        assert f.path.parent == tmp_path / "home" / ".config" / "systemd" / "user"
        assert "@" not in f.text.split("[Unit]")[1]  # every placeholder filled
    run = tmp_path / "run"
    run.mkdir(mode=0o700)
    done = subprocess.run(
        ["systemd-analyze", "verify", "--user", *(str(out / f.path.name) for f in p.files)],
        capture_output=True, text=True, env={**os.environ, "XDG_RUNTIME_DIR": str(run)}, timeout=30,
    )  # fmt: skip
    assert done.returncode == 0 and not done.stderr.strip(), done.stderr
    unit = p.files[0].text
    assert f"ExecStart={service.command()[0]} serve" in unit and "Restart=on-failure" in unit
    # The validator is real: a unit whose command is not there is refused.
    (out / "broken.service").write_text(unit.replace(service.command()[0], str(tmp_path / "gone" / "detour")))
    bad = subprocess.run(
        ["systemd-analyze", "verify", "--user", str(out / "broken.service")],
        capture_output=True, text=True, env={**os.environ, "XDG_RUNTIME_DIR": str(run)}, timeout=30,
    )  # fmt: skip
    assert bad.returncode != 0 and "not executable" in bad.stderr


def test_systemd_quotes_a_path_with_spaces(tmp_path: Path) -> None:
    p = service.plan("systemd", tmp_path, with_tray=False, cmd=["/opt/My 100% Apps/detour"])
    assert 'ExecStart="/opt/My 100%% Apps/detour" serve' in p.files[0].text


@pytest.mark.parametrize("cmd", [None, ODD], ids=["console-script", "python-m"])
def test_launchd_agents_parse_as_plists(tmp_path: Path, cmd: list[str] | None) -> None:
    p = service.plan("launchd", tmp_path, with_tray=True, cmd=cmd)
    agents = [plistlib.loads(f.text.encode()) for f in p.files]
    argv = cmd or service.command()
    assert [a["Label"] for a in agents] == ["dev.detour.gateway", "dev.detour.tray"]
    assert agents[0]["ProgramArguments"] == [*argv, "serve"]
    assert agents[1]["ProgramArguments"] == [*argv, "tray"]
    for a in agents:
        assert a["RunAtLoad"] is True and a["KeepAlive"] == {"SuccessfulExit": False}  # restart on failure
    assert agents[1]["LimitLoadToSessionType"] == "Aqua"
    assert p.files[0].path == tmp_path / "Library" / "LaunchAgents" / "dev.detour.gateway.plist"
    uid = os.getuid()
    assert p.install[0] == ("launchctl", "bootstrap", f"gui/{uid}", str(p.files[0].path))
    assert p.uninstall[-1] == ("launchctl", "bootout", f"gui/{uid}/dev.detour.gateway")


def _duration_s(text: str) -> int:
    m = re.fullmatch(r"PT(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?", text)
    assert m, text
    h, mi, s = (int(g or 0) for g in m.groups())
    return h * 3600 + mi * 60 + s


@pytest.mark.parametrize("cmd", [None, ODD], ids=["console-script", "python-m"])
def test_windows_tasks_have_the_task_schema_shape(tmp_path: Path, cmd: list[str] | None) -> None:
    p = service.plan("windows", tmp_path, with_tray=True, cmd=cmd)
    assert len(p.files) == 2
    for f, sub in zip(p.files, ("serve", "tray"), strict=True):
        raw = f.text.encode(f.encoding)
        assert raw[:2] in (b"\xff\xfe", b"\xfe\xff")  # UTF-16 with a BOM, as schtasks /XML wants
        root = ET.fromstring(raw.decode("utf-16"))
        assert root.tag == f"{TASK_NS}Task" and root.get("version") == "1.2"
        children = [c.tag.removeprefix(TASK_NS) for c in root]
        assert set(children) <= set(TASK_CHILDREN) and len(children) == len(set(children))
        assert {"Triggers", "Settings", "Actions"} <= set(children)
        trigger = root.find(f"{TASK_NS}Triggers/{TASK_NS}LogonTrigger")
        assert trigger is not None and trigger.findtext(f"{TASK_NS}UserId")
        settings = root.find(f"{TASK_NS}Settings")
        assert settings is not None
        names = [c.tag.removeprefix(TASK_NS) for c in settings]
        assert set(names) <= set(SETTINGS_CHILDREN) and len(names) == len(set(names))
        restart = settings.find(f"{TASK_NS}RestartOnFailure")
        assert restart is not None  # restart on failure, within the schema's bounds
        assert _duration_s(restart.findtext(f"{TASK_NS}Interval", "")) >= 60
        assert _duration_s(restart.findtext(f"{TASK_NS}Interval", "")) <= 31 * 86400
        assert 1 <= int(restart.findtext(f"{TASK_NS}Count", "0")) <= 255  # an unsignedByte
        assert _duration_s(settings.findtext(f"{TASK_NS}ExecutionTimeLimit", "")) == 0  # runs for good
        action = root.find(f"{TASK_NS}Actions/{TASK_NS}Exec")
        assert action is not None
        argv = cmd or service.command()
        assert action.findtext(f"{TASK_NS}Command") == argv[0]
        assert action.findtext(f"{TASK_NS}Arguments") == subprocess.list2cmdline([*argv[1:], sub])
    assert p.install[0][:4] == ("schtasks", "/Create", "/TN", "detour")


def test_install_writes_runs_and_uninstall_removes(tmp_path: Path) -> None:
    ran: list[Sequence[str]] = []

    def runner(c: Sequence[str]) -> subprocess.CompletedProcess[str]:
        ran.append(tuple(c))
        return subprocess.CompletedProcess(c, 0, "", "")

    p = service.plan("systemd", tmp_path, with_tray=False)
    service.run(p, "install", runner)
    unit = tmp_path / ".config" / "systemd" / "user" / "detour.service"
    assert unit.read_text() == p.files[0].text
    assert ran == [
        ("systemctl", "--user", "daemon-reload"),
        ("systemctl", "--user", "enable", "--now", "detour.service"),
    ]
    ran.clear()
    service.run(p, "uninstall", runner)
    assert not unit.exists()
    assert ran == [
        ("systemctl", "--user", "disable", "--now", "detour.service"),
        ("systemctl", "--user", "daemon-reload"),
    ]

    def failing(c: Sequence[str]) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(c, 1, "", "Failed to connect to bus: No medium found")

    with pytest.raises(
        service.ServiceError, match="systemctl --user daemon-reload. failed .1.: Failed to connect to bus"
    ):
        service.run(p, "install", failing)


def test_dry_run_prints_files_and_commands(tmp_path: Path) -> None:
    env = {**os.environ, "HOME": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "daemon.cli", "service", "install", "--dry-run", "--platform", "systemd", "--no-tray"],
        capture_output=True, text=True, env=env, timeout=30,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"# {tmp_path}/.config/systemd/user/detour.service\n")
    assert "Restart=on-failure" in done.stdout
    assert done.stdout.rstrip().endswith("systemctl --user enable --now detour.service")
    assert not (tmp_path / ".config" / "systemd").exists()  # nothing written
