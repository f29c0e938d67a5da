"""Providers by kind."""

from __future__ import annotations

import aiohttp

from daemon.config import ProviderConfig
from daemon.keys import Secret
from daemon.providers.base import Provider
from daemon.redaction import Redactor

__all__ = ["Provider", "build"]


def build(
    config: ProviderConfig,
    key: Secret | None,
    session: aiohttp.ClientSession,
    redact: Redactor,
) -> Provider:
    # Imported here so that the IR-level users of Provider need no wire formats loaded.
    from daemon.providers.http import HttpProvider
    from daemon.providers.sim import SimProvider

    if config.kind == "sim":
        return SimProvider(config)
    return HttpProvider(config, key, session, redact)
