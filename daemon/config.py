"""The TOML config: loaded once at start, checked whole, with errors that name file, line and fix.

Keys never live here: a provider's key is in the OS keyring (service ``detour``,
name = provider id) or in the environment variable its ``api_key_env`` names.
"""

from __future__ import annotations

import dataclasses
import functools
import ipaddress
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import platformdirs

APP = "detour"
KINDS = ("anthropic", "openai", "gemini", "openai-compatible", "sim")
# 429 bursts, a first byte that never comes, refused connections.
FAULT_KINDS = ("rate_limit", "stall", "outage")
DEFAULT_BASE_URLS = {
    "anthropic": "https://api.anthropic.com",
    "openai": "https://api.openai.com/v1",
    "gemini": "https://generativelanguage.googleapis.com",
}


class ConfigError(Exception):
    """A config the daemon cannot start with; the message says where and how to fix it."""

    def __init__(self, path: Path | None, line: int | None, message: str) -> None:
        where = str(path) if path else "config"
        if line:
            where += f":{line}"
        super().__init__(f"{where}: {message}")


@dataclass(slots=True, frozen=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 8787
    allow_remote: bool = False
    drain_s: float = 15.0  # on SIGTERM/SIGINT: how long requests in flight may take to finish
    ollama_compat: bool = False  # Ollama's discovery and keyless loopback chat, for IDE "Ollama" providers

    @property
    def url(self) -> str:
        """Where a local client reaches the daemon: a wildcard bind is reached on loopback."""
        host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(self.host, self.host)
        return f"http://[{host}]:{self.port}" if ":" in host else f"http://{host}:{self.port}"


@dataclass(slots=True, frozen=True)
class ModelConfig:
    """Per-model facts for models genai-prices does not know, or knows differently."""

    context_window: int | None = None
    max_output: int | None = None
    input_usd_mtok: float | None = None
    output_usd_mtok: float | None = None


@dataclass(slots=True, frozen=True)
class Fault:
    """A scripted failure of a simulated provider, so ``detour demo`` can show failovers:
    active from ``at_s`` seconds after start for ``for_s`` seconds, again every ``every_s``."""

    kind: str  # one of FAULT_KINDS
    at_s: float
    for_s: float
    every_s: float | None = None

    def active(self, elapsed_s: float) -> float:
        """Seconds of this fault left at ``elapsed_s`` after start; 0 when it is not active."""
        since = elapsed_s - self.at_s
        if since < 0:
            return 0.0
        if self.every_s:
            since %= self.every_s
        return max(0.0, self.for_s - since)


@dataclass(slots=True, frozen=True)
class ProviderConfig:
    id: str
    kind: str
    base_url: str
    api_key_env: str | None = None
    timeout_connect_s: float = 5.0
    timeout_first_byte_s: float = 60.0
    timeout_idle_s: float = 30.0
    models: dict[str, ModelConfig] = field(default_factory=dict)
    # Simulated providers only: scripted faults and the time each answer takes.
    faults: tuple[Fault, ...] = ()
    latency_ms: float = 0.0
    # OpenAI kinds: "chat" (/chat/completions) or "responses" (/responses, keeps encrypted reasoning).
    api: str = "chat"


@dataclass(slots=True, frozen=True)
class Target:
    """One link of a chain: a model at a provider."""

    provider: str
    model: str

    def __str__(self) -> str:
        return f"{self.provider}/{self.model}"


@dataclass(slots=True, frozen=True)
class RouteConfig:
    name: str
    chain: tuple[Target, ...]
    match: tuple[str, ...] = ()
    timeout_first_byte_s: float | None = None
    # An answer that is not the JSON the client asked for: try the next model, or return an error.
    on_invalid_json: str = "next"  # next | return
    # Every target cooling down or ejected: wait this long for the soonest (None: [routing]'s).
    max_wait_s: float | None = None
    # Whole-file tool results shrunk to their pruned form: off, to "fit" a smaller window, or "always".
    prune: str = "off"


@dataclass(slots=True, frozen=True)
class HealthSettings:
    """``[routing.health]``: when a target is ejected (``routing.health``), as Envoy's outlier
    detection: ``consecutive_failures`` in a row, or ``failure_rate_percent`` of at least
    ``minimum_requests`` within ``interval_s``; ejected for ``base_ejection_s`` times the
    ejections in a row; never more than ``max_ejection_percent`` of a chain at once."""

    consecutive_failures: int = 5
    failure_rate_percent: float = 50
    minimum_requests: int = 10
    interval_s: float = 30
    base_ejection_s: float = 10
    max_ejection_percent: float = 50


@dataclass(slots=True, frozen=True)
class RoutingConfig:
    max_wait_s: float = 10.0
    health: HealthSettings = field(default_factory=HealthSettings)


@dataclass(slots=True, frozen=True)
class BudgetConfig:
    weekly_usd: float | None = None
    daily_usd: float | None = None
    session_usd: float | None = None
    on_exhausted: str = "block"  # block | cheapest


@dataclass(slots=True, frozen=True)
class AlertsConfig:
    failovers: int = 5  # a provider failing over this many times...
    window_s: float = 600.0  # ...within this window raises an alert
    webhook_url: str | None = None  # Slack-compatible: POST {"text": ...}
    statsd: tuple[str, int] | None = None  # DogStatsD host and port
    desktop: bool = True


@dataclass(slots=True, frozen=True)
class ProbeConfig:
    """Synthetic probes for the recovery report: a small fixed request to every target."""

    enabled: bool = False
    every_s: float = 3600.0
    cap_usd_per_day: float = 0.10


@dataclass(slots=True, frozen=True)
class ResponsesConfig:
    """Stored Responses state (``previous_response_id``)."""

    retention_days: float = 30.0
    max_mb: float = 512.0  # the oldest responses go first beyond this


@dataclass(slots=True, frozen=True)
class Config:
    path: Path | None
    server: ServerConfig = field(default_factory=ServerConfig)
    providers: dict[str, ProviderConfig] = field(default_factory=dict)
    routes: tuple[RouteConfig, ...] = ()
    budget: BudgetConfig = field(default_factory=BudgetConfig)
    log_content: bool = False  # request and response bodies in events and the event log
    alerts: AlertsConfig = field(default_factory=AlertsConfig)
    routing: RoutingConfig = field(default_factory=RoutingConfig)
    probe: ProbeConfig = field(default_factory=ProbeConfig)
    responses: ResponsesConfig = field(default_factory=ResponsesConfig)
    projects: tuple[ProjectConfig, ...] = ()


@dataclass(slots=True, frozen=True)
class ProjectConfig:
    """A source tree detour indexes and watches for pruned context."""

    root: Path
    exclude: tuple[str, ...] = ()  # gitignore-style globs, on top of the deny list and .gitignore


def default_path() -> Path:
    override = os.environ.get("DETOUR_CONFIG")
    if override:
        return Path(override)
    return Path(platformdirs.user_config_dir(APP)) / "config.toml"


DEFAULT_CONFIG = """\
# detour config. Keys never go in this file: `detour keys set PROVIDER` puts them
# in the OS keyring, or name an environment variable with api_key_env.

# log_content = false       # true puts request and response bodies in events and the event log

[server]
host = "127.0.0.1"          # refuses to bind a non-loopback address unless allow_remote = true
port = 8787
# drain_s = 15              # on stop: how long requests in flight may take before they are cut
# ollama_compat = false     # also answer Ollama's discovery (/api/tags, /api/show, /api/version)
                            # and keyless loopback chat calls, for IDE "Ollama" providers

[providers.anthropic]       # table name = provider id
kind = "anthropic"          # anthropic | openai | gemini | openai-compatible | sim
# base_url = "https://api.anthropic.com"
# api_key_env = "ANTHROPIC_API_KEY"
# timeout_connect_s = 5
# timeout_first_byte_s = 60   # until the first content arrives
# timeout_idle_s = 30         # longest silence between stream chunks
# [providers.anthropic.models."claude-x"]  # facts for a model genai-prices does not know
# context_window = 200000
# max_output = 64000
# input_usd_mtok = 3.0
# output_usd_mtok = 15.0

[providers.openai]
kind = "openai"
# base_url = "https://api.openai.com/v1"

[providers.gemini]
kind = "gemini"
# base_url = "https://generativelanguage.googleapis.com"

# [providers.deepseek]
# kind = "openai-compatible"
# base_url = "https://api.deepseek.com/v1"

[providers.sim]             # built-in simulated provider: deterministic, no network, no key
kind = "sim"

[[routes]]
name = "coder"                           # a model name clients may ask for
match = ["claude-*", "gpt-*"]            # other requested names that take this route
chain = ["anthropic/claude-sonnet-4-5", "openai/gpt-4.1", "gemini/gemini-2.5-pro"]
# on_invalid_json = "next"               # JSON that fails its schema: "next" model, or "return" an error
# max_wait_s = 10                        # every model cooling down: wait this long for the soonest
# prune = "off"                          # off | fit | always: whole-file tool results of indexed projects
#                                        # shrunk to their outline when a model's window is too small

[[routes]]
name = "default"                         # where requests for unknown models go
chain = ["anthropic/claude-sonnet-4-5", "openai/gpt-4.1", "gemini/gemini-2.5-flash"]

[routing]
max_wait_s = 10             # every model of a chain cooling down: wait this long for the soonest,
                            # then try them anyway rather than refuse

# [routing.health]          # when a model is ejected from its chains for a while
# consecutive_failures = 5  # failures in a row...
# failure_rate_percent = 50 # ...or this share failed of at least minimum_requests within interval_s
# minimum_requests = 10
# interval_s = 30
# base_ejection_s = 10      # ejected this long times the ejections in a row (at most 300 s)
# max_ejection_percent = 50 # never eject more than this share of a chain's models at once

# [[projects]]              # indexed and watched for pruned context (`detour context`, `detour mcp`)
# root = "~/src/myapp"
# exclude = ["fixtures/**"] # on top of .gitignore and the built-in deny list

[budget]
# weekly_usd = 50.0         # resets Monday 00:00 local time
# daily_usd = 15.0
# session_usd = 5.0
on_exhausted = "block"      # block | cheapest (fall through to the cheapest model that fits)

[alerts]
failovers = 5               # alert when a provider fails over this many times...
window_s = 600              # ...within this window
# webhook_url = "https://hooks.slack.com/services/..."   (Slack-compatible JSON)
# statsd = "127.0.0.1:8125"                                (Datadog-compatible tags)
desktop = true

[probe]                     # synthetic probes for the recovery report; off unless enabled
enabled = false
every_s = 3600
cap_usd_per_day = 0.10      # their own cap: probes never count against your budgets
"""


def ensure_default(path: Path) -> bool:
    """Write the commented defaults on first run. Returns whether it wrote them."""
    if path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(DEFAULT_CONFIG)
    return True


def load(path: Path) -> Config:
    try:
        text = path.read_text()
    except OSError as e:
        raise ConfigError(path, None, f"cannot read: {e.strerror}") from None
    return parse(text, path)


def parse(text: str, path: Path | None = None) -> Config:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        line = getattr(e, "lineno", None) or _line_from_message(str(e))
        msg = getattr(e, "msg", str(e))
        raise ConfigError(path, line, f"not valid TOML: {msg}") from None
    return _Reader(text, path).config(data)


def _line_from_message(msg: str) -> int | None:
    m = re.search(r"line (\d+)", msg)
    return int(m.group(1)) if m else None


class _Reader:
    """Turns parsed TOML into Config, locating each problem in the text for the error."""

    def __init__(self, text: str, path: Path | None) -> None:
        self.lines = text.splitlines()
        self.path = path

    def fail(self, message: str, *needles: str) -> ConfigError:
        return ConfigError(self.path, self.locate(*needles), message)

    def locate(self, *needles: str) -> int | None:
        """The first line holding the needles in order (a table header, then a key)."""
        start = 0
        found: int | None = None
        for needle in needles:
            for i in range(start, len(self.lines)):
                if needle in self.lines[i]:
                    found, start = i + 1, i + 1
                    break
        return found

    def config(self, data: dict[str, Any]) -> Config:
        known = {
            "server",
            "providers",
            "routes",
            "routing",
            "budget",
            "alerts",
            "probe",
            "log_content",
            "responses",
            "projects",
        }
        for key in data:
            if key not in known:
                raise self.fail(f"unknown setting {key!r}; known: {', '.join(sorted(known))}", key)
        server = self.server(data.get("server", {}))
        providers = self.providers(data.get("providers", {}))
        routes = self.routes(data.get("routes", []), providers)
        budget = self.budget(data.get("budget", {}))
        log_content = data.get("log_content", False)
        if not isinstance(log_content, bool):
            raise self.fail("log_content must be true or false", "log_content")
        alerts = self.alerts(data.get("alerts", {}))
        routing = self.routing(data.get("routing", {}))
        probe = self.probe(data.get("probe", {}))
        responses = self.responses(data.get("responses", {}))
        projects = self.projects(data.get("projects", []))
        return Config(
            self.path,
            server,
            providers,
            routes,
            budget,
            log_content,
            alerts,
            routing,
            probe,
            responses,
            projects,
        )

    def routing(self, raw: Any) -> RoutingConfig:
        if not isinstance(raw, dict):
            raise self.fail("[routing] must be a table", "routing")
        self.only(raw, {"max_wait_s", "health"}, "[routing]")
        max_wait = self.typed(raw, "max_wait_s", float, 10.0, "[routing]")
        if max_wait < 0:
            raise self.fail("[routing]: max_wait_s must not be negative", "[routing]", "max_wait_s")
        return RoutingConfig(max_wait, self.health(raw.get("health", {})))

    def health(self, raw: Any) -> HealthSettings:
        header = "[routing.health]"
        if not isinstance(raw, dict):
            raise self.fail(f"{header} must be a table", "health")
        known = {
            f.name: (int if f.type == "int" else float, f.default) for f in dataclasses.fields(HealthSettings)
        }
        self.only(raw, set(known), header)
        values = {k: self.typed(raw, k, kind, d, header) for k, (kind, d) in known.items()}
        for key, value in values.items():
            least = 1 if key in ("consecutive_failures", "minimum_requests") else 0
            if value < least or (key.endswith("_percent") and value > 100):
                limit = "from 0 to 100" if key.endswith("_percent") else f"at least {least}"
                raise self.fail(f"{header}: {key} must be {limit}, not {value!r}", header, key)
        return HealthSettings(**values)

    def projects(self, raw: Any) -> tuple[ProjectConfig, ...]:
        if not isinstance(raw, list):
            raise self.fail("projects must be written as [[projects]] tables", "projects")
        out = []
        for table in raw:
            if not isinstance(table, dict) or not isinstance(table.get("root"), str) or not table["root"]:
                raise self.fail('every [[projects]] needs root = "path/to/the/project"', "[[projects]]")
            self.only(table, {"root", "exclude"}, "[[projects]]")
            exclude = table.get("exclude", [])
            if not isinstance(exclude, list) or not all(isinstance(g, str) for g in exclude):
                raise self.fail(
                    "[[projects]]: exclude must be a list of glob strings", "[[projects]]", "exclude"
                )
            out.append(ProjectConfig(Path(table["root"]).expanduser(), tuple(exclude)))
        return tuple(out)

    def only(self, table: dict[str, Any], known: set[str], header: str) -> None:
        """Refuse a setting the table does not have, naming the ones it does."""
        for key in table:
            if key not in known:
                raise self.fail(
                    f"{header}: unknown setting {key!r}; known: {', '.join(sorted(known))}", header, key
                )

    def probe(self, raw: Any) -> ProbeConfig:
        if not isinstance(raw, dict):
            raise self.fail("[probe] must be a table", "probe")
        self.only(raw, {"enabled", "every_s", "cap_usd_per_day"}, "[probe]")
        every_s = self.typed(raw, "every_s", float, 3600.0, "[probe]")
        if every_s < 1:
            raise self.fail("[probe]: every_s must be at least 1 second", "[probe]", "every_s")
        cap = self.typed(raw, "cap_usd_per_day", float, 0.10, "[probe]")
        if cap < 0:
            raise self.fail("[probe]: cap_usd_per_day cannot be negative", "[probe]", "cap_usd_per_day")
        return ProbeConfig(self.typed(raw, "enabled", bool, False, "[probe]"), every_s, cap)

    def alerts(self, raw: Any) -> AlertsConfig:
        if not isinstance(raw, dict):
            raise self.fail("[alerts] must be a table", "alerts")
        known = {"failovers", "window_s", "webhook_url", "statsd", "desktop"}
        self.only(raw, known, "[alerts]")
        failovers = self.typed(raw, "failovers", int, 5, "[alerts]")
        if failovers < 1:
            raise self.fail("[alerts]: failovers must be at least 1", "[alerts]", "failovers")
        window_s = self.typed(raw, "window_s", float, 600.0, "[alerts]")
        if window_s <= 0:
            raise self.fail("[alerts]: window_s must be a positive number of seconds", "[alerts]", "window_s")
        webhook = self.typed(raw, "webhook_url", str, "", "[alerts]") or None
        if webhook is not None and not webhook.startswith(("https://", "http://")):
            raise self.fail(
                f"[alerts]: webhook_url must be an http(s) URL, not {webhook!r}", "[alerts]", "webhook_url"
            )
        statsd_raw = self.typed(raw, "statsd", str, "", "[alerts]")
        statsd = None
        if statsd_raw:
            host, _, port = statsd_raw.rpartition(":")
            if not host or not port.isdigit() or not 0 < int(port) <= 65535:
                raise self.fail(
                    f'[alerts]: statsd must be "HOST:PORT" like "127.0.0.1:8125", not {statsd_raw!r}',
                    "[alerts]",
                    "statsd",
                )
            statsd = (host.strip("[]"), int(port))
        desktop = self.typed(raw, "desktop", bool, True, "[alerts]")
        return AlertsConfig(failovers, window_s, webhook, statsd, desktop)

    def responses(self, raw: Any) -> ResponsesConfig:
        if not isinstance(raw, dict):
            raise self.fail("[responses] must be a table", "responses")
        self.only(raw, {"retention_days", "max_mb"}, "[responses]")
        days = self.typed(raw, "retention_days", float, 30.0, "[responses]")
        max_mb = self.typed(raw, "max_mb", float, 512.0, "[responses]")
        for key, value in (("retention_days", days), ("max_mb", max_mb)):
            if value <= 0:
                raise self.fail(f"[responses]: {key} must be a positive number", "[responses]", key)
        return ResponsesConfig(days, max_mb)

    def budget(self, raw: Any) -> BudgetConfig:
        if not isinstance(raw, dict):
            raise self.fail("[budget] must be a table", "budget")
        known = {"weekly_usd", "daily_usd", "session_usd", "on_exhausted"}
        self.only(raw, known, "[budget]")
        limits = {
            k: self.typed(raw, k, float, None, "[budget]") if k in raw else None
            for k in known - {"on_exhausted"}
        }
        for key, value in limits.items():
            if value is not None and value < 0:
                raise self.fail(f"[budget]: {key} must not be negative", "[budget]", key)
        on_exhausted = raw.get("on_exhausted", "block")
        if on_exhausted not in ("block", "cheapest"):
            raise self.fail(
                '[budget]: on_exhausted must be "block" or "cheapest"', "[budget]", "on_exhausted"
            )
        return BudgetConfig(on_exhausted=on_exhausted, **limits)

    def server(self, raw: Any) -> ServerConfig:
        if not isinstance(raw, dict):
            raise self.fail("[server] must be a table", "server")
        s = ServerConfig(
            host=self.typed(raw, "host", str, "127.0.0.1", "[server]"),
            port=self.typed(raw, "port", int, 8787, "[server]"),
            allow_remote=self.typed(raw, "allow_remote", bool, False, "[server]"),
            drain_s=self.typed(raw, "drain_s", float, 15.0, "[server]"),
            ollama_compat=self.typed(raw, "ollama_compat", bool, False, "[server]"),
        )
        self.only(raw, {"host", "port", "allow_remote", "drain_s", "ollama_compat"}, "[server]")
        if s.drain_s < 0:
            raise self.fail("drain_s must be a number of seconds, 0 or more", "[server]", "drain_s")
        if not 0 <= s.port <= 65535:
            raise self.fail(f"port {s.port} is out of range 0-65535", "[server]", "port")
        if not s.allow_remote and not is_loopback(s.host):
            raise self.fail(
                f"host {s.host!r} is not a loopback address; detour serves only this machine "
                "unless you set allow_remote = true under [server]",
                "[server]",
                "host",
            )
        return s

    def typed(self, raw: dict[str, Any], key: str, kind: type, default: Any, table: str) -> Any:
        value = raw.get(key, default)
        # bool is an int in Python; a port of `true` is still wrong.
        if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
            if kind is float and isinstance(value, int) and not isinstance(value, bool):
                return float(value)
            raise self.fail(f"{key} must be a {kind.__name__}, not {value!r}", table, key)
        return value

    def providers(self, raw: Any) -> dict[str, ProviderConfig]:
        if not isinstance(raw, dict):
            raise self.fail("providers must be tables like [providers.NAME]", "providers")
        out: dict[str, ProviderConfig] = {}
        for pid, table in raw.items():
            header = f"[providers.{pid}]"
            if not isinstance(table, dict):
                raise self.fail(f"{header} must be a table", header)
            if not re.fullmatch(r"[A-Za-z0-9_-]+", pid):
                raise self.fail(f"provider id {pid!r} may hold only letters, digits, _ and -", header)
            kind = table.get("kind")
            if kind not in KINDS:
                raise self.fail(f"{header} needs kind = one of {', '.join(KINDS)} (got {kind!r})", header)
            unknown = (
                set(table)
                - {
                    "kind",
                    "base_url",
                    "api_key_env",
                    "timeout_connect_s",
                    "timeout_first_byte_s",
                    "timeout_idle_s",
                    "models",
                }
                - ({"faults", "latency_ms"} if kind == "sim" else set())
                - ({"api"} if kind in ("openai", "openai-compatible") else set())
            )
            if unknown:
                raise self.fail(
                    f"{header}: unknown setting {sorted(unknown)[0]!r}", header, sorted(unknown)[0]
                )
            base_url = table.get("base_url", DEFAULT_BASE_URLS.get(kind, ""))
            if kind == "openai-compatible" and not base_url:
                raise self.fail(f"{header}: an openai-compatible provider needs base_url", header)
            out[pid] = ProviderConfig(
                id=pid,
                kind=kind,
                base_url=self.typed(table, "base_url", str, base_url, header).rstrip("/"),
                api_key_env=self.typed(table, "api_key_env", str, "", header) or None,
                timeout_connect_s=self.typed(table, "timeout_connect_s", float, 5.0, header),
                timeout_first_byte_s=self.typed(table, "timeout_first_byte_s", float, 60.0, header),
                timeout_idle_s=self.typed(table, "timeout_idle_s", float, 30.0, header),
                models=self.models(table.get("models", {}), header),
                faults=self.faults(table.get("faults", []), header),
                latency_ms=self.typed(table, "latency_ms", float, 0.0, header),
                api=self.api(table, header),
            )
        return out

    def api(self, table: dict[str, Any], header: str) -> str:
        api = self.typed(table, "api", str, "chat", header)
        if api not in ("chat", "responses"):
            raise self.fail(f'{header}: api must be "chat" or "responses", not {api!r}', header, "api")
        return str(api)

    def faults(self, raw: Any, header: str) -> tuple[Fault, ...]:
        where = f"[[{header[1:-1]}.faults]]"
        if not isinstance(raw, list):
            raise self.fail(f"{header}: faults must be written as {where} tables", header, "faults")
        out: list[Fault] = []
        for table in raw:
            kind = table.get("kind") if isinstance(table, dict) else None
            if kind not in FAULT_KINDS:
                raise self.fail(f"{where}: kind must be one of {', '.join(FAULT_KINDS)}", where)
            unknown = set(table) - {"kind", "at_s", "for_s", "every_s"}
            if unknown:
                raise self.fail(f"{where}: unknown setting {sorted(unknown)[0]!r}", where)
            every = self.typed(table, "every_s", float, None, where) if "every_s" in table else None
            fault = Fault(
                kind,
                self.typed(table, "at_s", float, 0.0, where),
                self.typed(table, "for_s", float, 0.0, where),
                every,
            )
            if fault.at_s < 0 or fault.for_s <= 0 or (every is not None and every < fault.for_s):
                raise self.fail(f"{where}: needs at_s >= 0, for_s > 0 and every_s >= for_s", where)
            out.append(fault)
        return tuple(out)

    def models(self, raw: Any, header: str) -> dict[str, ModelConfig]:
        if not isinstance(raw, dict):
            raise self.fail(f'{header}: models must be tables like [providers.ID.models."NAME"]', header)
        out: dict[str, ModelConfig] = {}
        for name, table in raw.items():
            where = f"{header[:-1]}.models.{name}]"
            if not isinstance(table, dict):
                raise self.fail(f"{where} must be a table", name)
            unknown = set(table) - set(ModelConfig.__dataclass_fields__)
            if unknown:
                raise self.fail(f"{where}: unknown setting {sorted(unknown)[0]!r}", name, sorted(unknown)[0])
            out[name] = ModelConfig(
                context_window=self.typed(table, "context_window", int, None, name)
                if "context_window" in table
                else None,
                max_output=self.typed(table, "max_output", int, None, name)
                if "max_output" in table
                else None,
                input_usd_mtok=self.typed(table, "input_usd_mtok", float, None, name)
                if "input_usd_mtok" in table
                else None,
                output_usd_mtok=self.typed(table, "output_usd_mtok", float, None, name)
                if "output_usd_mtok" in table
                else None,
            )
        return out

    def routes(self, raw: Any, providers: dict[str, ProviderConfig]) -> tuple[RouteConfig, ...]:
        if not isinstance(raw, list):
            raise self.fail("routes must be written as [[routes]] tables", "routes")
        out: list[RouteConfig] = []
        for table in raw:
            name = table.get("name")
            if not isinstance(name, str) or not name:
                raise self.fail("every [[routes]] needs a name", "[[routes]]")
            anchor = ("[[routes]]", f'"{name}"')
            chain_raw = table.get("chain")
            if not isinstance(chain_raw, list) or not chain_raw:
                raise self.fail(f'route {name!r} needs a chain of "provider/model" entries', *anchor)
            chain: list[Target] = []
            for entry in chain_raw:
                pid, sep, model = str(entry).partition("/")
                if not sep or not model:
                    raise self.fail(
                        f'route {name!r}: chain entry {entry!r} must be "provider/model"', *anchor
                    )
                if pid not in providers:
                    raise self.fail(
                        f"route {name!r}: provider {pid!r} is not configured; add [providers.{pid}]", *anchor
                    )
                chain.append(Target(pid, model))
            match = table.get("match", [])
            if not isinstance(match, list) or not all(isinstance(m, str) for m in match):
                raise self.fail(f"route {name!r}: match must be a list of glob strings", *anchor)
            ttfb = table.get("timeout_first_byte_s")
            if ttfb is not None and (
                isinstance(ttfb, bool) or not isinstance(ttfb, int | float) or ttfb <= 0
            ):
                raise self.fail(f"route {name!r}: timeout_first_byte_s must be a positive number", *anchor)
            on_invalid = table.get("on_invalid_json", "next")
            if on_invalid not in ("next", "return"):
                raise self.fail(
                    f'route {name!r}: on_invalid_json must be "next" (try the next model) or "return" '
                    f"(answer with an error), not {on_invalid!r}",
                    *anchor,
                    "on_invalid_json",
                )
            prune = table.get("prune", "off")
            if prune not in ("off", "fit", "always"):
                raise self.fail(
                    f'route {name!r}: prune must be "off", "fit" (shrink whole-file tool results when a '
                    f'model\'s window is too small) or "always", not {prune!r}',
                    *anchor,
                    "prune",
                )
            wait = table.get("max_wait_s")
            if wait is not None and (isinstance(wait, bool) or not isinstance(wait, int | float) or wait < 0):
                raise self.fail(f"route {name!r}: max_wait_s must be a number of seconds, 0 or more", *anchor)
            out.append(
                RouteConfig(
                    name,
                    tuple(chain),
                    tuple(match),
                    float(ttfb) if ttfb else None,
                    on_invalid,
                    None if wait is None else float(wait),
                    prune,
                )
            )
        return tuple(out)


@functools.lru_cache(maxsize=64)  # asked on every request, of the few Host values a machine uses
def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
