"""Asking the running daemon for context: what ``detour context`` and ``detour mcp`` share."""

from __future__ import annotations

from typing import Any

import aiohttp


class DaemonError(Exception):
    """The daemon answered with an error (its message is for the user), or did not answer."""


class ContextClient:
    def __init__(self, url: str, token: str, root: str | None = None) -> None:
        self.url = url.rstrip("/") + "/context"
        self.token = token
        self.root = root

    async def ask(self, op: str, target: str | None, budget: int | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"op": op, "target": target}
        if self.root is not None:
            body["root"] = self.root
        if budget is not None:
            body["budget_tokens"] = budget
        headers = {"authorization": f"Bearer {self.token}"}
        # Indexing a large project on first use takes a while: no total timeout.
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=5)
        try:
            async with aiohttp.ClientSession(timeout=timeout) as http:
                async with http.post(self.url, json=body, headers=headers) as resp:
                    data: dict[str, Any] = await resp.json(content_type=None)
        except (aiohttp.ClientError, OSError) as e:
            where = self.url.removesuffix("/context")
            raise DaemonError(f"cannot reach detour at {where} ({e}); start it with `detour serve`") from None
        if resp.status != 200:
            error = data.get("error") if isinstance(data, dict) else None
            message = error.get("message") if isinstance(error, dict) else None
            raise DaemonError(str(message or f"detour answered {resp.status}"))
        return data
