"""The TOML config: loaded once at start, checked whole, with errors that name file, line and fix.

Keys never live here: a provider's key is in the OS keyring (service ``detour``,
name = provider id) or in the environment variable its ``api_key_env`` names.
Declared once in ``schema``; read by ``reader``; the default file is ``template``'s.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

from daemon.config.reader import ConfigError, load, parse
from daemon.config.schema import (
    DEFAULT_BASE_URLS,
    FAULT_KINDS,
    KINDS,
    AlertsConfig,
    BudgetConfig,
    Config,
    Fault,
    HealthSettings,
    ModelConfig,
    ProbeConfig,
    ProjectConfig,
    ProviderConfig,
    ResponsesConfig,
    RouteSettings,
    RoutingConfig,
    ServerConfig,
    Target,
    TeamBudget,
    TeamSettings,
    is_loopback,
)

APP = "detour"

__all__ = [
    "APP",
    "DEFAULT_BASE_URLS",
    "DEFAULT_CONFIG",
    "FAULT_KINDS",
    "KINDS",
    "AlertsConfig",
    "BudgetConfig",
    "Config",
    "ConfigError",
    "Fault",
    "HealthSettings",
    "ModelConfig",
    "ProbeConfig",
    "ProjectConfig",
    "ProviderConfig",
    "ResponsesConfig",
    "RouteSettings",
    "RoutingConfig",
    "ServerConfig",
    "Target",
    "TeamBudget",
    "TeamSettings",
    "default_path",
    "ensure_default",
    "is_loopback",
    "load",
    "parse",
]


def __getattr__(name: str) -> str:
    # The default file's text is made only when it is asked for: a start that reads an
    # existing config need not render it.
    if name == "DEFAULT_CONFIG":
        from daemon.config.template import DEFAULT_CONFIG

        return DEFAULT_CONFIG
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def default_path() -> Path:
    override = os.environ.get("DETOUR_CONFIG")
    if override:
        return Path(override)
    return Path(platformdirs.user_config_dir(APP)) / "config.toml"


def ensure_default(path: Path) -> bool:
    """Write the commented defaults on first run. Returns whether it wrote them."""
    if path.exists():
        return False
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    # Only its owner may write it (load refuses it otherwise), whatever the umask.
    with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w", encoding="utf-8") as f:
        f.write(__getattr__("DEFAULT_CONFIG"))
    return True
