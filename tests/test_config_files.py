"""The config file as a file: refused when others could change it (as ssh does), and
edited by commands through a TOML library that keeps it valid and keeps its comments."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import logging
import os
import stat
from pathlib import Path

import pytest
import tomlkit
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from daemon.cli import main
from daemon.config import ConfigError, ensure_default, load, parse, schema
from daemon.config.edit import add_project
from daemon.server.reload import LiveConfig

# Port 1: nothing listens there, so `context add` finds no daemon and only edits the file.
BASE = '# my detour config\n[server]\nport = 1  # nothing here\n\n[providers.sim]\nkind = "sim"  # offline\n'


def test_a_config_others_can_write_is_refused_with_the_chmod_that_fixes_it(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(BASE)
    load(path)
    for mode in (0o666, 0o664, 0o646):
        path.chmod(mode)
        with pytest.raises(ConfigError, match=f"other users can write it.*fix: chmod go-w {path}$"):
            load(path)
    path.chmod(0o644)
    tmp_path.chmod(0o777)  # a directory others may write: they could replace the file
    try:
        with pytest.raises(ConfigError, match=f"fix: chmod go-w {tmp_path}$"):
            load(path)
        tmp_path.chmod(0o777 | stat.S_ISVTX)  # sticky, as /tmp: only the owner may replace it
        load(path)
    finally:
        tmp_path.chmod(0o700)


def test_the_default_file_is_written_for_its_owner_only_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o002)
    try:
        assert ensure_default(tmp_path / "new" / "config.toml")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "new" / "config.toml").stat().st_mode) == 0o600
    load(tmp_path / "new" / "config.toml")


async def test_a_reload_of_a_config_others_can_write_keeps_the_old_and_says_why(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "config.toml"
    path.write_text(BASE)
    live = LiveConfig(None, load(path))  # type: ignore[arg-type]  # refused before the app is touched
    path.write_text(BASE + "\n[budget]\ndaily_usd = 1.0\n")
    path.chmod(0o666)
    with caplog.at_level(logging.ERROR, logger="daemon.server.reload"):
        assert not await live.reload(path)
    assert "NOT applied (the previous config stays in force)" in caplog.text
    assert f"fix: chmod go-w {path}" in caplog.text
    assert live.current.budget.daily_usd is None


def test_adding_a_project_keeps_comments_and_writes_what_toml_can_read(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(BASE)
    root = tmp_path / 'proj 😀 "quoted" \\back'
    root.mkdir()
    assert _detour("context", "add", str(root), config=path) == 0
    assert _detour("context", "add", str(root), config=path) == 0  # already there: once
    text = path.read_text(encoding="utf-8")
    assert text.startswith(BASE) and "😀" in text and "\\ud83d" not in text
    assert [p.root for p in load(path).projects] == [root]
    inline = tmp_path / "inline.toml"
    inline.write_text(BASE.replace("[server]", f"projects = [{{ root = {str(tmp_path)!r} }}]\n[server]"))
    add_project(inline, root)
    assert [p.root for p in load(inline).projects] == [tmp_path, root]


def test_a_path_toml_cannot_hold_is_refused_and_the_file_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(BASE)
    with pytest.raises(ConfigError, match="not valid UTF-8"):
        add_project(path, tmp_path / "bad\udcff")
    assert path.read_text() == BASE


NAMES = st.text(
    st.characters(blacklist_characters="/\x00", blacklist_categories=("Cs",))
    | st.sampled_from(["\udcff", "\udc80"]),
    min_size=1,
    max_size=12,
).filter(lambda n: n not in (".", ".."))
PREFIXES = st.sampled_from(
    [
        BASE,
        BASE + '\n[[projects]]  # mine\nroot = "/srv/x"\n\n[budget]\ndaily_usd = 2.0  # a day\n',
        "projects = []\n" + BASE,
        BASE + "\n[team]\n[team.budget]\nweekly_usd = 9.0\n",
    ]
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(names=st.lists(NAMES, min_size=1, max_size=3), prefix=PREFIXES)
def test_config_writing_commands_never_traceback_and_leave_a_valid_config(
    tmp_path_factory: pytest.TempPathFactory, names: list[str], prefix: str
) -> None:
    tmp = tmp_path_factory.mktemp("cfg")
    path = tmp / "config.toml"
    path.write_text(prefix, encoding="utf-8")
    added = []
    for name in names:
        root = tmp / name
        with contextlib.suppress(FileExistsError):
            root.mkdir()
        code = _detour("context", "add", str(root), config=path)
        assert code in (0, 1)
        if code == 0:
            added.append(root.resolve())
    config = load(path)  # still valid TOML, still a config
    assert set(added) <= {p.root for p in config.projects}
    text = path.read_text(encoding="utf-8")
    assert all(line in text for line in prefix.splitlines() if "#" in line)  # the user's comments kept


def _detour(*args: str, config: Path) -> int:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([*args, "--config", str(config)])
    assert "Traceback" not in out.getvalue() + err.getvalue()
    return code


def _table(cls: type) -> st.SearchStrategy[dict[str, object]]:
    names = [f.name for f in dataclasses.fields(cls) if f.name != "path"] + ["bogus"]  # type: ignore[arg-type]
    return st.dictionaries(st.sampled_from(names), VALUES, max_size=4)


VALUES = st.one_of(
    st.booleans(),
    st.integers(-(10**20), 10**20),
    st.floats(),
    st.text(max_size=6),
    st.sampled_from(
        ["sim", "sim/m", "x/y", "openai-compatible", "127.0.0.1:1", "https://x", "fit", "stall", "0.0.0.0"]
    ),
    st.lists(st.sampled_from(["sim/m", "a", "*", 1]), max_size=3),
)
CONFIGS = st.fixed_dictionaries(
    {},
    optional={
        "log_content": VALUES,
        "server": _table(schema.ServerConfig),
        "providers": st.dictionaries(
            st.sampled_from(["sim", "a b", "anthropic"]),
            _table(schema.ProviderConfig)
            | st.fixed_dictionaries(
                {"kind": st.just("sim"), "faults": st.lists(_table(schema.Fault), max_size=2)},
                optional={"models": st.dictionaries(st.just("m"), _table(schema.ModelConfig), max_size=1)},
            ),
            max_size=2,
        ),
        "routes": st.lists(_table(schema.RouteSettings), max_size=2),
        "routing": st.fixed_dictionaries({"health": _table(schema.HealthSettings)})
        | _table(schema.RoutingConfig),
        "projects": st.lists(_table(schema.ProjectConfig), max_size=2),
        "alerts": _table(schema.AlertsConfig),
        "team": st.fixed_dictionaries({"budget": _table(schema.TeamBudget)}) | _table(schema.TeamSettings),
    },
)


@settings(max_examples=300, deadline=None)
@given(CONFIGS)
def test_any_config_loads_or_is_refused_with_its_file_and_line(data: dict[str, object]) -> None:
    try:
        text = tomlkit.dumps(data)
    except (TypeError, ValueError):  # a value TOML cannot write (a float too big, ...)
        return
    try:
        parse(text, Path("/etc/detour.toml"))
    except ConfigError as e:
        assert str(e).startswith("/etc/detour.toml"), e
