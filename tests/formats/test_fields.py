"""The depth limit on client bodies: exactly ``MAX_DEPTH`` levels pass, one more is refused by path."""

from __future__ import annotations

import orjson
import pytest

from daemon.formats.fields import MAX_DEPTH, check_depth
from daemon.ir import ApiError


def nested(levels: int, kind: str) -> object:
    """A value ``levels`` containers deep (the body around it adds one)."""
    if kind == "list":
        return orjson.loads("[" * levels + "]" * levels)
    return orjson.loads('{"a":' * (levels - 1) + "{}" + "}" * (levels - 1))


@pytest.mark.parametrize("kind", ["list", "object"])
def test_the_limit_is_exact(kind: str) -> None:
    check_depth({"x": nested(MAX_DEPTH - 1, kind)})
    with pytest.raises(ApiError) as refused:
        check_depth({"x": nested(MAX_DEPTH, kind)})
    assert refused.value.status == 400
    step = "[0]" if kind == "list" else ".a"
    assert refused.value.message == f"x{step * 5}…{step * 2}: nested deeper than {MAX_DEPTH} levels"


@pytest.mark.parametrize("levels", [300, 1023])
def test_what_orjson_parses_but_cannot_write_is_refused(levels: int) -> None:
    body = {"tools": [{"input_schema": nested(levels, "object")}]}
    with pytest.raises(ApiError, match=r"^tools\[0\]\.input_schema\.a\.a\.a…\.a\.a: nested deeper than 64"):
        check_depth(body)
