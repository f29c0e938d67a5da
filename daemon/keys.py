"""API keys and the local client token, kept in the OS keyring.

Keyring calls block (D-Bus, Keychain), so the daemon makes them through
``asyncio.to_thread``. A key is held as ``Secret``, whose repr never shows it,
and every error that leaves the daemon goes through ``daemon.redaction.Redactor``.
"""

from __future__ import annotations

import logging
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

import keyring
import keyring.backends.fail
import keyring.errors
import platformdirs

from daemon import private
from daemon.config import APP, ProviderConfig

SERVICE = APP
TOKEN_NAME = "client-token"
log = logging.getLogger(__name__)


class KeyringUnavailable(Exception):
    pass


@dataclass(slots=True, frozen=True)
class Secret:
    value: str

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__


def keyring_usable() -> bool:
    return not isinstance(keyring.get_keyring(), keyring.backends.fail.Keyring)


def _no_backend_message() -> str:
    return (
        "no OS keyring backend is available (headless Linux has none by default). "
        'Install and unlock one (e.g. gnome-keyring or KWallet), or set api_key_env = "VAR" '
        "under the provider in config.toml and export VAR."
    )


def get_key(provider: ProviderConfig) -> Secret | None:
    """The provider's key: the env variable named by api_key_env wins, then the keyring."""
    if provider.api_key_env:
        value = os.environ.get(provider.api_key_env)
        if value:
            return Secret(value)
    if not keyring_usable():
        return None
    try:
        value = keyring.get_password(SERVICE, provider.id)
    except keyring.errors.KeyringError as e:
        log.warning("keyring read failed for provider %s: %s", provider.id, type(e).__name__)
        return None
    return Secret(value) if value else None


def set_key(provider_id: str, value: str) -> None:
    if not keyring_usable():
        raise KeyringUnavailable(_no_backend_message())
    keyring.set_password(SERVICE, provider_id, value)


def delete_key(provider_id: str) -> bool:
    if not keyring_usable():
        raise KeyringUnavailable(_no_backend_message())
    try:
        keyring.delete_password(SERVICE, provider_id)
    except keyring.errors.PasswordDeleteError:
        return False
    return True


def has_key(provider: ProviderConfig) -> bool:
    return get_key(provider) is not None


def client_token(data_dir: Path | None = None) -> str:
    """The local token clients use as their API key: created once, kept in the keyring,
    or in a 0600 file where no keyring works."""
    if keyring_usable():
        try:
            token = keyring.get_password(SERVICE, TOKEN_NAME)
            if not token:
                token = _new_token()
                keyring.set_password(SERVICE, TOKEN_NAME, token)
            return token
        except keyring.errors.KeyringError as e:
            log.warning("keyring unusable (%s); keeping the client token in a file", type(e).__name__)
    path = (data_dir or Path(platformdirs.user_data_dir(APP))) / "client-token"
    if path.exists():
        return path.read_text().strip()
    log.warning("no keyring backend: client token kept in %s (mode 0600)", path)
    private.directory(path.parent)
    token = _new_token()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")
    return token


def _new_token() -> str:
    return "dtr-" + secrets.token_urlsafe(24)
