"""An in-memory keyring backend for tests (selected with PYTHON_KEYRING_BACKEND).

With DETOUR_TEST_KEYRING_FILE set it is backed by that JSON file, so a daemon
started as a subprocess and the test that started it see the same keyring.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import keyring.backend
import keyring.errors


class MemoryKeyring(keyring.backend.KeyringBackend):
    priority = 1  # type: ignore[assignment]
    store: dict[str, str] = {}

    def _load(self) -> dict[str, str]:
        path = os.environ.get("DETOUR_TEST_KEYRING_FILE")
        if path and Path(path).exists():
            return dict(json.loads(Path(path).read_text()))
        return self.store

    def _save(self, data: dict[str, str]) -> None:
        path = os.environ.get("DETOUR_TEST_KEYRING_FILE")
        if path:
            # Atomically: another process (the daemon, `detour token`) may be reading it.
            tmp = Path(f"{path}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps(data))
            os.replace(tmp, path)
        else:
            type(self).store = data

    def get_password(self, service: str, username: str) -> str | None:
        return self._load().get(f"{service}\0{username}")

    def set_password(self, service: str, username: str, password: str) -> None:
        data = self._load()
        data[f"{service}\0{username}"] = password
        self._save(data)

    def delete_password(self, service: str, username: str) -> None:
        data = self._load()
        if data.pop(f"{service}\0{username}", None) is None:
            raise keyring.errors.PasswordDeleteError(username)
        self._save(data)
