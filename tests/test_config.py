from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from daemon.config import DEFAULT_CONFIG, ConfigError, HealthSettings, Target, ensure_default, load, parse


def test_default_config_is_written_once_and_parses(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "config.toml"
    assert ensure_default(path)
    assert not ensure_default(path)
    config = load(path)
    assert config.server.port == 8787
    assert {"anthropic", "openai", "gemini", "sim"} <= set(config.providers)
    assert config.routes[0].chain[0] == Target("anthropic", "claude-sonnet-4-5")
    assert path.read_text() == DEFAULT_CONFIG


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("[server]\nport = \n", 2, "not valid TOML"),
        ('[server]\nhost = "0.0.0.0"\n', 2, "allow_remote = true"),
        ('[server]\nport = "eighty"\n', 2, "port must be a int"),
        ('[providers.x]\nkind = "mystery"\n', 1, "kind = one of"),
        ('[providers.x]\nkind = "sim"\ncolour = "red"\n', 3, "unknown setting 'colour'"),
        ('[providers.x]\nkind = "openai-compatible"\n', 1, "needs base_url"),
        (
            '[providers.x]\nkind = "sim"\n\n[[routes]]\nname = "a"\nchain = ["y/m"]\n',
            5,
            "'y' is not configured",
        ),
        ('[providers.x]\nkind = "sim"\n\n[[routes]]\nname = "a"\nchain = ["x"]\n', 5, '"provider/model"'),
        ("bogus = 1\n", 1, "unknown setting 'bogus'"),
        (
            '[providers.x]\nkind = "sim"\n\n[[routes]]\nname = "a"\nchain = ["x/m"]\non_invalid_json = "retry"\n',
            7,
            'on_invalid_json must be "next" (try the next model) or "return"',
        ),
        ("[budget]\n\n[alerts]\nfailovers = 0\n", 4, "failovers must be at least 1"),
        ("[alerts]\nwindow_s = -1\n", 2, "window_s must be a positive number"),
        ('[alerts]\nstatsd = "8125"\n', 2, 'statsd must be "HOST:PORT"'),
        ('[alerts]\nwebhook_url = "hooks.slack.com/x"\n', 2, "webhook_url must be an http(s) URL"),
        ('[alerts]\ndesktop = "yes"\n', 2, "desktop must be a bool"),
        ("[alerts]\nemail = true\n", 2, "unknown setting 'email'"),
    ],
)
def test_errors_name_the_line_and_the_fix(text: str, line: int, fragment: str) -> None:
    with pytest.raises(ConfigError) as e:
        parse(text, Path("/etc/detour.toml"))
    assert f"/etc/detour.toml:{line}:" in str(e.value)
    assert fragment in str(e.value)


def test_remote_bind_allowed_when_asked() -> None:
    config = parse('[server]\nhost = "0.0.0.0"\nallow_remote = true\n')
    assert config.server.host == "0.0.0.0"


def test_loopback_addresses_are_fine() -> None:
    for host in ("127.0.0.1", "localhost", "::1", "127.0.0.2"):
        assert parse(f'[server]\nhost = "{host}"\n').server.host == host


def test_on_invalid_json_defaults_to_next() -> None:
    text = '[providers.x]\nkind = "sim"\n\n[[routes]]\nname = "a"\nchain = ["x/m"]\n'
    assert parse(text).routes[0].on_invalid_json == "next"
    assert parse(text + 'on_invalid_json = "return"\n').routes[0].on_invalid_json == "return"


def test_alerts_settings() -> None:
    alerts = parse(DEFAULT_CONFIG).alerts
    assert (alerts.failovers, alerts.window_s, alerts.webhook_url, alerts.statsd) == (5, 600.0, None, None)
    alerts = parse(
        '[alerts]\nfailovers = 2\nwindow_s = 30\nstatsd = "localhost:8125"\n'
        'webhook_url = "https://hooks.example/T1"\ndesktop = false\n'
    ).alerts
    assert (alerts.failovers, alerts.window_s, alerts.statsd) == (2, 30.0, ("localhost", 8125))
    assert alerts.webhook_url == "https://hooks.example/T1" and alerts.desktop is False


def test_routing_health_sets_the_ejection_thresholds() -> None:
    assert parse("").routing.health == HealthSettings()
    s = parse(
        "[routing.health]\nconsecutive_failures = 3\nfailure_rate_percent = 40\nmax_ejection_percent = 34\n"
    )
    assert s.routing.health == HealthSettings(3, 40.0, 10, 30.0, 10.0, 34.0)
    for bad, fragment in (
        ("max_ejection_percent = 120", "max_ejection_percent must be from 0 to 100"),
        ("consecutive_failures = 0", "consecutive_failures must be at least 1"),
        ("interval_s = -1", "interval_s must be at least 0"),
        ("window = 30", "unknown setting 'window'"),
    ):
        with pytest.raises(ConfigError, match=fragment):
            parse(f"[routing.health]\n{bad}\n")
    # The commented defaults say the same as the code.
    commented = DEFAULT_CONFIG.split("# [routing.health]")[1].split("\n\n")[0]
    for f in dataclasses.fields(HealthSettings):
        assert f"# {f.name} = {f.default:g}" in commented
