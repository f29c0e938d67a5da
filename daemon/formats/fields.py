"""Readers for fields of a client's JSON body that name the path of what is wrong.

Every wire format decodes untrusted JSON; a wrong type must come back as a 400
that says where (`messages[2].content[0].text: expected a string, got a number`),
never as a KeyError turned 500.
"""

from __future__ import annotations

from typing import Any

import orjson

from daemon.ir import invalid

MAX_DEPTH = 64  # real bodies nest a dozen levels; JSON schemas in tools a few more
# orjson refuses to write values nested deeper than this (``Recursion limit reached``).
_ORJSON_DEPTH = 254


def json_type(value: Any) -> str:
    """How JSON would name the type of `value`, with its article, for error messages."""
    match value:
        case None:
            return "null"
        case bool():
            return "a boolean"
        case int() | float():
            return "a number"
        case str():
            return "a string"
        case list():
            return "an array"
        case dict():
            return "an object"
        case _:
            return type(value).__name__


def as_str(value: Any, path: str) -> str:
    if not isinstance(value, str):
        raise invalid(f"{path}: expected a string, got {json_type(value)}")
    return value


def as_object(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise invalid(f"{path}: expected an object, got {json_type(value)}")
    return value


def as_array(value: Any, path: str) -> list[Any]:
    if not isinstance(value, list):
        raise invalid(f"{path}: expected an array, got {json_type(value)}")
    return value


def opt_str(value: Any, path: str) -> str | None:
    return None if value is None else as_str(value, path)


def opt_int(value: Any, path: str, minimum: int = 0) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise invalid(f"{path}: expected an integer, got {json_type(value)}")
    if value < minimum:
        raise invalid(f"{path}: must be at least {minimum}, got {value}")
    return value


def opt_num(value: Any, path: str) -> float | None:
    if value is None:
        return None
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise invalid(f"{path}: expected a number, got {json_type(value)}")
    return value


def opt_bool(value: Any, path: str) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    raise invalid(f"{path}: expected true or false, got {json_type(value)}")


def json_object(text: str, raw_key: str) -> dict[str, Any]:
    """Call arguments (JSON text, maybe broken: models do write invalid JSON) as the object a
    provider's wire form must hold; text that is not a JSON object travels whole under ``raw_key``."""
    if not text.strip():
        return {}
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return {raw_key: text}
    return value if isinstance(value, dict) else {raw_key: text}


def check_depth(body: Any) -> None:
    """Refuse a body nested deeper than ``MAX_DEPTH``, naming where.

    Deeper JSON parses but cannot be written again (token counting, the provider's body), so
    it is turned away here, once, at the edge. The check is orjson writing the body inside
    enough lists that only a body deeper than the limit reaches orjson's own: about a third
    of the parse's time, where a walk in Python would take longer than the parse.
    """
    padded = body
    for _ in range(_ORJSON_DEPTH - MAX_DEPTH):
        padded = [padded]
    try:
        orjson.dumps(padded)
    except orjson.JSONEncodeError:
        raise invalid(f"{_too_deep_path(body)}: nested deeper than {MAX_DEPTH} levels") from None


def _too_deep_path(body: Any) -> str:
    """The path of a value at depth ``MAX_DEPTH + 1``: where it starts, its middle elided."""
    stack: list[tuple[Any, tuple[str, ...]]] = [(body, ())]
    while stack:
        value, path = stack.pop()
        if len(path) >= MAX_DEPTH:
            return ("".join(path[:6]) + "…" + "".join(path[-2:])).lstrip(".")
        if isinstance(value, dict):
            stack += [(v, (*path, f".{k}")) for k, v in value.items() if isinstance(v, dict | list)]
        elif isinstance(value, list):
            stack += [(v, (*path, f"[{i}]")) for i, v in enumerate(value) if isinstance(v, dict | list)]
    return "request body"
