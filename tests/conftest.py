from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest

from tests.daemon_harness import SIM_CONFIG, Daemon, start_daemon

os.environ.setdefault("PYTHON_KEYRING_BACKEND", "tests.memkeyring.MemoryKeyring")


@pytest.fixture
async def sim_daemon() -> AsyncIterator[Daemon]:
    d = await start_daemon(SIM_CONFIG)
    yield d
    await d.close()
