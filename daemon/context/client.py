"""Asking the running daemon for context: what ``detour context`` and ``detour mcp`` share."""

from __future__ import annotations

from typing import Any

import aiohttp


class DaemonError(Exception):
    """The daemon answered with an error (its message is for the user), or did not answer."""


class ContextClient:
    def __init__(self, url: str, token: str, root: str | None = None) -> None:
        self.base = url.rstrip("/")
        self.url = self.base + "/context"
        self.token = token
        self.root = root

    async def ask(self, op: str, target: str | None, budget: int | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"op": op, "target": target}
        if self.root is not None:
            body["root"] = self.root
        if budget is not None:
            body["budget_tokens"] = budget
        # Indexing a large project on first use takes a while: no total timeout.
        return await self._call("POST", "/context", body, aiohttp.ClientTimeout(total=None, sock_connect=5))

    async def status(self) -> dict[str, Any]:
        """The daemon's ``/status`` (each project's indexing state is under ``projects``)."""
        return await self._call("GET", "/status", None, aiohttp.ClientTimeout(total=10, sock_connect=5))

    async def _call(
        self, method: str, path: str, body: object, timeout: aiohttp.ClientTimeout
    ) -> dict[str, Any]:
        headers = {"authorization": f"Bearer {self.token}"}
        try:
            async with aiohttp.ClientSession(timeout=timeout) as http:
                async with http.request(method, self.base + path, json=body, headers=headers) as resp:
                    data = await resp.json(content_type=None)
        except (aiohttp.ClientError, OSError, ValueError) as e:
            raise DaemonError(
                f"cannot reach detour at {self.base} ({e}); start it with `detour serve`"
            ) from None
        if resp.status != 200:
            error = data.get("error") if isinstance(data, dict) else None
            message = error.get("message") if isinstance(error, dict) else None
            raise DaemonError(str(message or f"detour answered {resp.status}"))
        if not isinstance(data, dict):
            raise DaemonError(f"detour answered {resp.status} without a JSON object")
        return data
