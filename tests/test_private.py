"""Private by default: 0600 files, 0700 directories, deleted text gone from the database and its WAL."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import aiohttp

from daemon.config import ResponsesConfig
from daemon.ir import Message, TextPart
from daemon.responses.store import ResponseStore
from tests.daemon_harness import SIM_CONFIG, start_daemon


def modes(root: Path) -> dict[str, int]:
    found = {str(root): stat.S_IMODE(root.stat().st_mode)}
    for p in root.rglob("*"):
        if not p.is_symlink():
            found[str(p)] = stat.S_IMODE(p.stat().st_mode)
    return found


def assert_private(root: Path) -> None:
    for path, mode in modes(root).items():
        want = 0o700 if Path(path).is_dir() else 0o600
        assert mode == want, f"{path} is {mode:o}, not {want:o}"


async def test_every_file_0600_every_directory_0700_old_ones_tightened(tmp_path: Path) -> None:
    data = tmp_path / "data"
    # What an older version left: readable by everyone.
    (data / "events").mkdir(parents=True, mode=0o755)
    (data / "cache").mkdir(mode=0o755)
    for old in (data / "detour.db", data / "events" / "events.jsonl.1", data / "cache" / "old.json"):
        old.write_text("")
        old.chmod(0o644)
    data.chmod(0o755)
    os.umask(old_umask := os.umask(0o022))  # this test process keeps the usual umask
    daemon = await start_daemon(SIM_CONFIG, data_dir=data)
    try:
        async with aiohttp.ClientSession() as s:
            body = {"model": "default", "input": "Say hello.", "store": True}
            async with s.post(daemon.url + "/v1/responses", json=body, headers=daemon.auth()) as r:
                assert r.status == 200, await r.text()
            async with s.get(daemon.url + "/status", headers=daemon.auth()) as r:
                assert r.status == 200
        assert (data / "responses.db").exists() and (data / "detour.db-wal").exists()
        assert_private(data)
    finally:
        await daemon.runner.cleanup()
    assert any(p.name == "events.jsonl" for p in (data / "events").iterdir())  # written at shutdown
    assert_private(data)
    assert old_umask == os.umask(old_umask)


async def test_a_deleted_response_leaves_no_text_in_the_database_or_its_wal(tmp_path: Path) -> None:
    path = tmp_path / "responses.db"
    store = ResponseStore(path, ResponsesConfig())
    secret = "the-launch-code-is-PLUGH-XYZZY-" * 40  # spills into overflow pages
    await store.open()
    try:
        for n in range(20):  # neighbours on the same pages, which stay
            await store.put(
                f"resp_{n}", "t", [Message("user", [TextPart(f"row {n}")])], Message("assistant", []), b"{}"
            )
        await store.put(
            "resp_x",
            "t",
            [Message("user", [TextPart(secret)])],
            Message("assistant", [TextPart(secret)]),
            secret.encode(),
        )
        wal = path.with_name(path.name + "-wal")
        assert b"PLUGH-XYZZY" in path.read_bytes() + wal.read_bytes()  # the check below can fail
        assert await store.delete("resp_x", "t")
        on_disk = path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")
        assert b"PLUGH" not in on_disk and b"launch-code" not in on_disk
        assert await store.get("resp_3", "t") is not None
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    finally:
        await store.close()
    assert b"PLUGH" not in path.read_bytes()
