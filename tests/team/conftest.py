"""One PostgreSQL server per test session; a database of its own per test."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Iterator

import asyncpg
import pytest

from tests.team.postgres import Server, remove, start_server

_numbers = itertools.count()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[Server]:
    server = start_server()
    try:
        yield server
    finally:
        remove(server)


@pytest.fixture
async def team_db(pg_server: Server, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[str]:
    """A fresh database; its URL is in DETOUR_TEAM_DATABASE, as a member would export it."""
    name = f"team_{next(_numbers)}"
    admin = await asyncpg.connect(pg_server.url())
    try:
        await admin.execute(f"CREATE DATABASE {name}")
    finally:
        await admin.close()
    url = pg_server.url(name)
    monkeypatch.setenv("DETOUR_TEAM_DATABASE", url)
    yield url
