"""No body sent to ``POST /context`` earns a 5xx or a traceback, and none reads past the root."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.context.samples import PYTHON, write
from tests.daemon_harness import SIM_CONFIG, Daemon, start_daemon
from tests.server.test_odd_bodies import Collect

SECRET = "hunter2-never-served"
ODD = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), st.lists(st.text(max_size=5), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)  # fmt: skip


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("ctx-props")
    root = write(base / "proj", PYTHON)
    (base / "outside.py").write_text(f"def outside():\n    return {SECRET!r}\n")
    (root / "link.py").symlink_to(base / "outside.py")
    return root


@pytest.fixture
async def daemon(tree: Path) -> AsyncIterator[Daemon]:
    d = await start_daemon(SIM_CONFIG + f"\n[[projects]]\nroot = {json.dumps(str(tree))}\n")
    try:
        yield d
    finally:
        await d.close()


@pytest.fixture
def daemon_log() -> Iterator[Collect]:
    handler = Collect()
    logging.getLogger().addHandler(handler)
    try:
        yield handler
    finally:
        logging.getLogger().removeHandler(handler)


def bodies(root: str) -> st.SearchStrategy[bytes]:
    roots = st.one_of(
        st.sampled_from([root, root + "/", root + "/pkg", root + "/..", root + "\0", "~", "", " ", "/", "."]),
        st.text(), ODD,
    )  # fmt: skip
    targets = st.one_of(
        st.sampled_from([
            "pkg/engine.py", "pkg/engine.py::Engine.run", "pkg/util.py::helper", "link.py", "link.py::outside",
            "../outside.py", "pkg/../../outside.py", f"{root}/link.py", f"{root}/../outside.py", "/etc/passwd",
            "::", "pkg/engine.py::", "\0", "pkg/\0.py", "",
        ]),
        st.text(), ODD,
    )  # fmt: skip
    ops = st.one_of(st.sampled_from(["context", "outline", "find_symbol", "index", "Context", ""]), ODD)
    budgets = st.one_of(st.integers(), st.sampled_from([49, 50, 200_000, 200_001]), st.text(max_size=4), ODD)
    objects = st.fixed_dictionaries(
        {}, optional={"root": roots, "target": targets, "op": ops, "budget_tokens": budgets}
    )
    return st.one_of(
        objects.map(lambda o: json.dumps(o).encode()),
        st.binary(max_size=40),
        st.sampled_from([b"[]", b"null", b"{"]),
    )


@settings(
    max_examples=250,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
async def test_no_context_body_gets_a_5xx_a_traceback_or_a_file_outside_the_root(
    daemon: Daemon, daemon_log: Collect, tree: Path, data: st.DataObject
) -> None:
    body = data.draw(bodies(str(tree)))
    async with aiohttp.ClientSession() as s:
        async with s.post(f"{daemon.url}/context", data=body, headers=daemon.auth()) as r:
            status, text = r.status, await r.text()
    assert status < 500, (body, text)
    assert "Traceback" not in text and SECRET not in text and "def outside" not in text, (body, text)
    answer = orjson.loads(text)
    if status != 200:
        assert isinstance(answer["error"]["message"], str) and answer["error"]["message"], text
    assert not daemon_log.records, [r.getMessage() for r in daemon_log.records]
