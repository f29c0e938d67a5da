"""The config declared once: every table, key, type, limit, default and the comment the
default file shows for it. ``reader`` checks a file against this, ``template`` writes the
commented default file from it; nothing else repeats a default.

Plain frozen dataclasses, checked by pydantic (already loaded by genai-prices) only when a
file is read: building one in code costs nothing and needs no validation library.
"""

from __future__ import annotations

import dataclasses
import functools
import getpass
import ipaddress
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, ConfigDict, Field, Strict, ValidationInfo, with_config

KINDS = ("anthropic", "openai", "gemini", "openai-compatible", "sim")
# 429 bursts, a first byte that never comes, refused connections.
FAULT_KINDS = ("rate_limit", "stall", "outage")
DEFAULT_BASE_URLS = {
    "anthropic": "https://api.anthropic.com",
    "openai": "https://api.openai.com/v1",
    "gemini": "https://generativelanguage.googleapis.com",
}

Int = Annotated[int, Strict()]
Float = Annotated[float, Strict()]  # an integer is a float too: `window_s = 600`
Bool = Annotated[bool, Strict()]
Str = Annotated[str, Strict()]
Seconds = Annotated[float, Strict(), Field(ge=0)]
Positive = Annotated[float, Strict(), Field(gt=0)]
Usd = Annotated[float, Strict(), Field(ge=0)]
Percent = Annotated[float, Strict(), Field(ge=0, le=100)]
TABLE = ConfigDict(extra="forbid")


class Invalid(ValueError):
    """A check across settings failed. ``key``: the setting to point at (its line), ``up``:
    how many steps of the error's location to leave first (from a list entry to its table)."""

    def __init__(self, message: str, key: str | None = None, up: int = 0) -> None:
        super().__init__(message)
        self.message, self.key, self.up = message, key, up


def doc(text: str, *, example: str = "", must: str = "", show: bool = False, **limits: Any) -> Any:
    """A setting's comment in the default file. ``show``: written uncommented there;
    ``example``: the value a commented line shows where the default is none;
    ``must``: what a wrong value is told it must be, where the type does not say it well."""
    extra: dict[str, Any] = {k: v for k, v in (("example", example), ("must", must), ("show", show)) if v}
    return Field(description=text, json_schema_extra=extra or None, **limits)


@with_config(TABLE)
@dataclass(slots=True, frozen=True)
class ServerConfig:
    host: Annotated[
        Str, doc("refuses to bind a non-loopback address unless allow_remote = true", show=True)
    ] = "127.0.0.1"
    port: Annotated[Int, doc("", show=True, ge=0, le=65535)] = 8787
    allow_remote: Annotated[Bool, doc("serve other machines too (with the token)")] = False
    drain_s: Annotated[Seconds, doc("on stop: how long requests in flight may take before they are cut")] = (
        15.0
    )
    ollama_compat: Annotated[
        Bool,
        doc(
            "also answer Ollama's discovery (/api/tags, /api/show, /api/version) and keyless "
            'loopback chat calls, for IDE "Ollama" providers'
        ),
    ] = False

    def __post_init__(self) -> None:
        if not self.allow_remote and not is_loopback(self.host):
            raise Invalid(
                f"host {self.host!r} is not a loopback address; detour serves only this machine "
                "unless you set allow_remote = true under [server]",
                "host",
            )

    @property
    def url(self) -> str:
        """Where a local client reaches the daemon: a wildcard bind is reached on loopback."""
        host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(self.host, self.host)
        return f"http://[{host}]:{self.port}" if ":" in host else f"http://{host}:{self.port}"


@with_config(TABLE)
@dataclass(slots=True, frozen=True)
class ModelConfig:
    """Per-model facts for models genai-prices does not know, or knows differently."""

    context_window: Annotated[Int | None, doc("", example="200000", ge=1)] = None
    max_output: Annotated[Int | None, doc("", example="64000", ge=1)] = None
    input_usd_mtok: Annotated[Float | None, doc("", example="3.0", ge=0)] = None
    output_usd_mtok: Annotated[Float | None, doc("", example="15.0", ge=0)] = None


@with_config(TABLE)
@dataclass(slots=True, frozen=True)
class Fault:
    """A scripted failure of a simulated provider, so ``detour demo`` can show failovers:
    active from ``at_s`` seconds after start for ``for_s`` seconds, again every ``every_s``."""

    kind: Literal["rate_limit", "stall", "outage"]
    at_s: Seconds = 0.0
    for_s: Seconds = 0.0
    every_s: Seconds | None = None

    def __post_init__(self) -> None:
        if self.for_s <= 0 or (self.every_s is not None and self.every_s < self.for_s):
            raise Invalid("needs at_s >= 0, for_s > 0 and every_s >= for_s")

    def active(self, elapsed_s: float) -> float:
        """Seconds of this fault left at ``elapsed_s`` after start; 0 when it is not active."""
        since = elapsed_s - self.at_s
        if since < 0:
            return 0.0
        if self.every_s:
            since %= self.every_s
        return max(0.0, self.for_s - since)


@with_config(TABLE)
@dataclass(slots=True, frozen=True)
class ProviderConfig:
    id: Str
    kind: Annotated[Str, doc(" | ".join(KINDS), show=True)] = ""
    base_url: Annotated[
        Str,
        doc("default: the kind's own; written as its SDK takes it", example='"https://api.anthropic.com"'),
    ] = ""
    api_key_env: Annotated[
        Str | None, doc("read the key from this variable", example='"ANTHROPIC_API_KEY"')
    ] = None
    timeout_connect_s: Annotated[Positive, doc("")] = 5.0
    timeout_first_byte_s: Annotated[
        Positive, doc("until the first content arrives (a route may override)")
    ] = 60.0
    timeout_idle_s: Annotated[Positive, doc("longest silence between stream chunks")] = 30.0
    models: Annotated[dict[str, ModelConfig], doc("facts for a model genai-prices does not know")] = field(
        default_factory=dict
    )
    # Simulated providers only: scripted faults and the time each answer takes.
    faults: tuple[Fault, ...] = ()
    latency_ms: Annotated[Seconds, doc("sim only: the time each answer takes")] = 0.0
    api: Annotated[
        Literal["chat", "responses"],
        doc("OpenAI kinds: chat (/chat/completions) or responses (/responses, keeps encrypted reasoning)"),
    ] = "chat"

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[A-Za-z0-9_-]+", self.id):
            raise Invalid(f"provider id {self.id!r} may hold only letters, digits, _ and -")
        if self.kind not in KINDS:
            raise Invalid(f"needs kind = one of {', '.join(KINDS)} (got {self.kind or None!r})")
        if self.faults and self.kind != "sim":
            raise Invalid("unknown setting 'faults' (only a sim provider has faults)", "faults")
        if self.latency_ms and self.kind != "sim":
            raise Invalid("unknown setting 'latency_ms' (only a sim provider has it)", "latency_ms")
        if self.api != "chat" and self.kind not in ("openai", "openai-compatible"):
            raise Invalid("unknown setting 'api' (only OpenAI kinds have it)", "api")
        base_url = (self.base_url or DEFAULT_BASE_URLS.get(self.kind, "")).rstrip("/")
        if self.kind == "openai-compatible" and not base_url:
            raise Invalid("an openai-compatible provider needs base_url")
        object.__setattr__(self, "base_url", base_url)


@dataclass(slots=True, frozen=True)
class Target:
    """One link of a chain: a model at a provider."""

    provider: str
    model: str

    def __str__(self) -> str:
        return f"{self.provider}/{self.model}"


def _target(entry: Any) -> Any:
    if isinstance(entry, Target):
        return entry
    pid, sep, model = str(entry).partition("/")
    if not isinstance(entry, str) or not sep or not pid or not model:
        raise Invalid(f'chain entry {entry!r} must be "provider/model"', "name", up=2)
    return Target(pid, model)


@with_config(TABLE)
@dataclass(slots=True, frozen=True)
class HealthSettings:
    """Outlier detection as Envoy does it, with Envoy's names."""

    consecutive_failures: Annotated[
        Int, doc("failures in a row that eject a model from its chains for a while...", ge=1)
    ] = 5
    failure_rate_percent: Annotated[
        Percent, doc("...or this share failed of at least minimum_requests within interval_s")
    ] = 50.0
    minimum_requests: Annotated[Int, doc("", ge=1)] = 10
    interval_s: Annotated[Positive, doc("")] = 30.0
    base_ejection_s: Annotated[Positive, doc("ejected this long times the ejections in a row")] = 10.0
    max_ejection_percent: Annotated[
        Percent, doc("never eject more than this share of a chain's models at once")
    ] = 50.0


@with_config(TABLE)
@dataclass(slots=True, frozen=True)
class RoutingConfig:
    max_wait_s: Annotated[
        Seconds,
        doc(
            "every model of a chain cooling down: wait this long for the soonest, then try them anyway",
            show=True,
        ),
    ] = 10.0
    prompt_cache: Annotated[
        Literal["auto", "client", "off"],
        doc(
            "auto: keep the client's markers, place up to 4 when none are sent",
            show=True,
            must='"auto" (keep the client\'s cache markers, place them when none are sent), "client" '
            '(keep only the client\'s) or "off" (send none)',
        ),
    ] = "auto"
    continue_on_cut: Annotated[
        Bool, doc("true: a stream cut after content is finished by the next target of the chain")
    ] = False
    health: Annotated[HealthSettings, doc("outlier detection (Envoy's names); defaults shown")] = field(
        default_factory=HealthSettings
    )


ROUTING = RoutingConfig()  # where a route's unset overrides come from when no file says otherwise


@with_config(TABLE)
@dataclass(slots=True, frozen=True, kw_only=True)
class RouteSettings:
    """One route, whole: made once by the config, swapped whole on reload, reached by the
    chain as ``Resolved.settings``. A setting that is also a ``[routing]`` or
    ``[routing.health]`` setting is inherited from there when the route leaves it out."""

    name: Annotated[Str, doc("a model name clients may ask for", show=True, min_length=1)]
    match: Annotated[tuple[Str, ...], doc("other requested names that take this route")] = ()
    chain: Annotated[
        tuple[Annotated[Target, BeforeValidator(_target)], ...],
        doc("", min_length=1, must='a list of "provider/model" entries'),
    ]
    timeout_first_byte_s: Annotated[
        Positive | None, doc("overrides the providers' first-content limit", example="30")
    ] = None
    on_invalid_json: Annotated[
        Literal["next", "return"],
        doc(
            'JSON that fails its schema: "next" model, or "return" an error',
            must='"next" (try the next model) or "return" (answer with an error)',
        ),
    ] = "next"
    max_wait_s: Annotated[Seconds, doc("every model cooling down: wait this long for the soonest")] = (
        ROUTING.max_wait_s
    )
    prune: Annotated[
        Literal["off", "fit", "always"],
        doc(
            "off | fit | always: whole-file tool results of indexed projects shrunk to their outline "
            "when a model's window is too small",
            must='"off", "fit" (shrink whole-file tool results when a model\'s window is too small) '
            'or "always"',
        ),
    ] = "off"
    prompt_cache: Annotated[
        Literal["auto", "client", "off"],
        doc(
            "auto | client | off  (Anthropic cache breakpoints; overrides [routing])",
            must='"auto" (keep the client\'s cache markers, place them when none are sent), "client" '
            '(keep only the client\'s) or "off" (send none)',
        ),
    ] = ROUTING.prompt_cache
    continue_on_cut: Annotated[
        Bool, doc("true: a stream cut after content is finished by the next target (overrides [routing])")
    ] = ROUTING.continue_on_cut
    max_ejection_percent: Annotated[Percent, doc("never eject more than this share of this chain")] = (
        ROUTING.health.max_ejection_percent
    )


def inherited(routing: RoutingConfig) -> dict[str, Any]:
    """The values a route takes from ``[routing]`` and ``[routing.health]`` unless it sets them."""
    names = _names(RouteSettings)
    out = {k: getattr(routing.health, k) for k in _names(HealthSettings) & names}
    out.update({k: getattr(routing, k) for k in _names(RoutingConfig) & names})
    return out


def _names(cls: Any) -> set[str]:
    return {f.name for f in dataclasses.fields(cls)}


def _inherit(raw: Any, info: ValidationInfo) -> Any:
    routing = info.data.get("routing")
    if not isinstance(raw, list) or not isinstance(routing, RoutingConfig):
        return raw
    base = inherited(routing)
    return [{**base, **table} if isinstance(table, dict) else table for table in raw]


def _ids(raw: Any) -> Any:
    """``[providers.NAME]``: the table's name is the provider's id."""
    if not isinstance(raw, dict):
        return raw
    return {pid: {**t, "id": pid} if isinstance(t, dict) else t for pid, t in raw.items()}


def _expanded(raw: Any) -> Any:
    if not isinstance(raw, str) or not raw:
        raise Invalid('every [[projects]] needs root = "path/to/the/project"')
    return Path(raw).expanduser()


@with_config(TABLE)
@dataclass(slots=True, frozen=True)
class ProjectConfig:
    """A source tree detour indexes and watches for pruned context."""

    root: Annotated[Path, BeforeValidator(_expanded), doc("", example='"~/src/myapp"')]
    exclude: Annotated[
        tuple[Str, ...], doc("on top of .gitignore and the built-in deny list", example='["fixtures/**"]')
    ] = ()


@with_config(TABLE)
@dataclass(slots=True, frozen=True)
class BudgetConfig:
    weekly_usd: Annotated[Usd | None, doc("resets Monday 00:00 local time", example="50.0")] = None
    daily_usd: Annotated[Usd | None, doc("", example="15.0")] = None
    session_usd: Annotated[Usd | None, doc("", example="5.0")] = None
    on_exhausted: Annotated[
        Literal["block", "cheapest"],
        doc("block | cheapest (fall through to the cheapest model that fits)", show=True),
    ] = "block"


def _hostport(raw: Any) -> Any:
    if raw is None or isinstance(raw, tuple):
        return raw
    host, _, port = str(raw).rpartition(":")
    if not isinstance(raw, str) or not host or not port.isdigit() or not 0 < int(port) <= 65535:
        raise Invalid(f'statsd must be "HOST:PORT" like "127.0.0.1:8125", not {raw!r}', "statsd", up=0)
    return (host.strip("[]"), int(port))


def _url(raw: Any) -> Any:
    if isinstance(raw, str) and not raw.startswith(("https://", "http://")):
        raise Invalid(f"webhook_url must be an http(s) URL, not {raw!r}", "webhook_url")
    return raw or None


@with_config(TABLE)
@dataclass(slots=True, frozen=True)
class AlertsConfig:
    failovers: Annotated[Int, doc("alert when a provider fails over this many times...", show=True, ge=1)] = 5
    window_s: Annotated[Positive, doc("...within this window", show=True)] = 600.0
    webhook_url: Annotated[
        Str | None,
        BeforeValidator(_url),
        doc("Slack-compatible JSON", example='"https://hooks.slack.com/services/..."'),
    ] = None
    statsd: Annotated[
        tuple[str, int] | None,
        BeforeValidator(_hostport),
        doc("DogStatsD host and port (Datadog-compatible tags)", example='"127.0.0.1:8125"'),
    ] = None
    desktop: Annotated[Bool, doc("a desktop notification", show=True)] = True


@with_config(TABLE)
@dataclass(slots=True, frozen=True)
class ProbeConfig:
    """Synthetic probes for the recovery report: a small fixed request to every target."""

    enabled: Annotated[Bool, doc("", show=True)] = False
    every_s: Annotated[Seconds, doc("", show=True, ge=1)] = 3600.0
    cap_usd_per_day: Annotated[
        Usd, doc("their own cap: probes never count against your budgets", show=True)
    ] = 0.10


@with_config(TABLE)
@dataclass(slots=True, frozen=True)
class ResponsesConfig:
    """Stored Responses state (``previous_response_id``)."""

    retention_days: Annotated[Positive, doc("")] = 30.0
    max_mb: Annotated[Positive, doc("the oldest responses go first beyond this")] = 512.0


@with_config(TABLE)
@dataclass(slots=True, frozen=True)
class TeamBudget:
    weekly_usd: Annotated[Usd | None, doc("", example="200.0")] = None
    daily_usd: Annotated[Usd | None, doc("", example="60.0")] = None


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a bare container)
        return "detour"


@with_config(TABLE)
@dataclass(slots=True, frozen=True)
class TeamSettings:
    database_env: Annotated[
        Str,
        doc(
            "env var with a postgresql:// URL; or the keyring entry `team-database`",
            must="names an environment variable that holds the postgresql:// URL, never the URL itself",
            pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        ),
    ] = "DETOUR_TEAM_DATABASE"
    member: Annotated[Str, doc("default: the OS user name", example='"alice"', min_length=1)] = field(
        default_factory=_user
    )
    share_health: Annotated[Bool, doc("a cooldown or ejection one daemon sees, all honour")] = True
    offline_usd: Annotated[Usd, doc("what one daemon may spend while the database is unreachable")] = 0.50
    budget: Annotated[TeamBudget, doc("held across every member's daemon")] = field(
        default_factory=TeamBudget
    )


@with_config(TABLE)
@dataclass(slots=True, frozen=True)
class Config:
    path: Path | None = None  # the file it was read from; not a setting
    log_content: Annotated[Bool, doc("true puts request and response bodies in events and the event log")] = (
        False
    )
    server: ServerConfig = field(default_factory=ServerConfig)
    providers: Annotated[
        dict[str, ProviderConfig], BeforeValidator(_ids), doc("table name = provider id")
    ] = field(default_factory=dict)
    routing: RoutingConfig = field(default_factory=RoutingConfig)
    routes: Annotated[tuple[RouteSettings, ...], BeforeValidator(_inherit)] = ()
    projects: Annotated[
        tuple[ProjectConfig, ...],
        doc("indexed and watched for pruned context (`detour context`, `detour mcp`)"),
    ] = ()
    budget: BudgetConfig = field(default_factory=BudgetConfig)
    alerts: AlertsConfig = field(default_factory=AlertsConfig)
    probe: Annotated[ProbeConfig, doc("synthetic probes for the recovery report; off unless enabled")] = (
        field(default_factory=ProbeConfig)
    )
    responses: ResponsesConfig = field(default_factory=ResponsesConfig)
    team: Annotated[TeamSettings | None, doc("team mode on PostgreSQL: off unless this table is present")] = (
        None
    )

    def __post_init__(self) -> None:
        for i, route in enumerate(self.routes):
            for t in route.chain:
                if t.provider not in self.providers:
                    raise Invalid(
                        f"provider {t.provider!r} is not configured; add [providers.{t.provider}]",
                        f"routes.{i}.name",
                    )

    def route(self, name: str, chain: tuple[Target, ...]) -> RouteSettings:
        """Settings for a chain made up at request time (``provider/model`` written out)."""
        return RouteSettings(name=name, chain=chain, **inherited(self.routing))


@functools.lru_cache(maxsize=64)  # asked on every request, of the few Host values a machine uses
def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
