"""Reading a config file: TOML, checked against the declaration in ``schema``, and every
problem told as the file, the line and the fix."""

from __future__ import annotations

import dataclasses
import functools
import os
import re
import shlex
import stat
import tomllib
import types
import typing
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from daemon.config.schema import Config, Invalid

Loc = tuple[str | int, ...]
_TYPES = {"int": "int", "float": "float", "bool": "bool", "string": "str", "tuple": "list", "list": "list"}


class ConfigError(Exception):
    """A config the daemon cannot start with; the message says where and how to fix it."""

    def __init__(self, path: Path | None, line: int | None, message: str) -> None:
        where = str(path) if path else "config"
        if line:
            where += f":{line}"
        super().__init__(f"{where}: {message}")


@functools.cache
def _adapter() -> TypeAdapter[Config]:
    return TypeAdapter(Config)


def load(path: Path) -> Config:
    try:
        private(path)
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(path, None, f"cannot read: {getattr(e, 'strerror', None) or e}") from None
    return parse(text, path)


def private(path: Path) -> None:
    """Refuse a config others could change, as ssh does: whoever writes it routes your
    requests and sets your budgets. Raises ConfigError naming the command that fixes it."""
    if os.name != "posix":
        return
    st = path.stat()
    if st.st_uid not in (os.getuid(), 0):
        raise ConfigError(
            path, None, f"is owned by another user (uid {st.st_uid}); fix: chown $USER {_q(path)}"
        )
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise ConfigError(
            path,
            None,
            f"other users can write it, so detour refuses it (as ssh does); fix: chmod go-w {_q(path)}",
        )
    parent = path.absolute().parent
    dst = parent.stat()
    if dst.st_mode & (stat.S_IWGRP | stat.S_IWOTH) and not dst.st_mode & stat.S_ISVTX:
        raise ConfigError(
            path,
            None,
            f"other users can replace it (its directory is writable by them), so detour refuses it "
            f"(as ssh does); fix: chmod go-w {_q(parent)}",
        )


def _q(path: Path) -> str:
    return shlex.quote(str(path))


def parse(text: str, path: Path | None = None) -> Config:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        line = getattr(e, "lineno", None) or _line_from_message(str(e))
        msg = getattr(e, "msg", str(e))
        raise ConfigError(path, line, f"not valid TOML: {msg}") from None
    lines = text.splitlines()
    if "path" in data:
        raise ConfigError(path, locate(lines, ("path",)), _unknown("path", Config))
    try:
        return _adapter().validate_python({**data, "path": path})
    except ValidationError as e:
        loc, message = explain(e.errors()[0], data)
        raise ConfigError(path, locate(lines, loc), message) from None


def _line_from_message(msg: str) -> int | None:
    m = re.search(r"line (\d+)", msg)
    return int(m.group(1)) if m else None


def explain(err: Any, data: dict[str, Any]) -> tuple[Loc, str]:
    """Where a validation error is (a path of keys) and what to write instead."""
    loc: Loc = tuple(err["loc"])
    kind, given, ctx = err["type"], err.get("input"), err.get("ctx") or {}
    cause = ctx.get("error")
    if isinstance(cause, Invalid):
        loc = loc[: len(loc) - cause.up] + tuple(
            int(k) if k.isdigit() else k for k in (cause.key or "").split(".") if k
        )
        return loc, _said(data, loc[:-1] if cause.key else loc, cause.message)
    while loc and isinstance(loc[-1], int):  # an entry of a list of values: the list's key
        loc = loc[:-1]
    key = str(loc[-1]) if loc else "config"
    table = _owner(loc[:-1])
    field = _field(table, key)
    extra = (field.json_schema_extra if field is not None else None) or {}
    must = str(extra.get("must", "")) if isinstance(extra, dict) else ""
    base = kind.removesuffix("_type").removesuffix("_parsing")
    if kind == "unexpected_keyword_argument":
        message = _unknown(key, table)
    elif kind.startswith("missing"):
        message = f"needs {key}" + (
            f" = {extra['example']}" if isinstance(extra, dict) and "example" in extra else ""
        )
    elif must:
        message = f"{key} must be {must}, not {given!r}"
    elif base in _TYPES:
        message = f"{key} must be a {_TYPES[base]}, not {given!r}"
    elif kind in ("dataclass_type", "dataclass_exact_type", "dict_type"):
        message = f"{key} must be a table, not {given!r}"
    elif kind == "literal_error":
        choices = re.findall(r"'([^']*)'", str(ctx.get("expected", "")))
        message = f"{key} must be one of {', '.join(choices)}"
    elif kind == "greater_than_equal":
        message = f"{key} must not be negative" if ctx["ge"] == 0 else f"{key} must be at least {ctx['ge']:g}"
    elif kind == "greater_than":
        message = (
            f"{key} must be a positive number" if ctx["gt"] == 0 else f"{key} must be more than {ctx['gt']:g}"
        )
    elif kind == "less_than_equal":
        message = f"{key} must be at most {ctx['le']:g}"
    elif kind == "too_short":
        message = f"{key} must not be empty"
    else:
        message = f"{key}: {err['msg']}"
    return loc, _said(data, loc[:-1], message)


def _said(data: dict[str, Any], where: Loc, message: str) -> str:
    """The message after the table it is about: ``[alerts]``, ``route 'coder'``."""
    dotted: list[str] = []
    header = ""
    node: Any = data
    for part in where:
        node = _child(node, part)
        if isinstance(part, int):
            name = node.get("name") if isinstance(node, dict) else None
            header = (
                f"route {name!r}" if dotted == ["routes"] and name else f"[[{'.'.join(dotted)}]] #{part + 1}"
            )
        else:
            dotted.append(part)
            header = f"[{'.'.join(dotted)}]"
    return f"{header}: {message}" if header else message


def _child(node: Any, part: str | int) -> Any:
    if isinstance(node, dict):
        return node.get(part)
    if isinstance(node, list) and isinstance(part, int) and part < len(node):
        return node[part]
    return None


def _owner(loc: Loc) -> Any:
    """The declared class of the table at ``loc``."""
    cls: Any = Config
    for part in loc:
        if isinstance(part, int) or not dataclasses.is_dataclass(cls):
            cls = _inner(cls)
            if isinstance(part, int):
                continue
        hints = typing.get_type_hints(cls)
        cls = _inner(hints.get(part, Any)) if dataclasses.is_dataclass(cls) else cls
    return cls


def _inner(tp: Any) -> Any:
    """A dataclass inside an annotation: ``X | None``, ``tuple[X, ...]``, ``dict[str, X]``."""
    for arg in (
        typing.get_args(tp)
        if typing.get_origin(tp) in (tuple, dict, types.UnionType, typing.Union)
        else (tp,)
    ):
        if dataclasses.is_dataclass(arg):
            return arg
    return tp


def _field(table: Any, key: str) -> Any:
    if not dataclasses.is_dataclass(table):
        return None
    hint = typing.get_type_hints(table, include_extras=True).get(key)
    return next((m for m in getattr(hint, "__metadata__", ()) if hasattr(m, "json_schema_extra")), None)


def _unknown(key: str, table: Any) -> str:
    if not dataclasses.is_dataclass(table):
        return f"unknown setting {key!r}"
    known = sorted(f.name for f in dataclasses.fields(table) if f.name not in ("id", "path"))
    return f"unknown setting {key!r}; known: {', '.join(known)}"


def locate(lines: list[str], loc: Loc) -> int | None:
    """The line of the setting at ``loc``: its table's header, then its key below it;
    the nearest found where the file does not spell it out."""
    found: int | None = None
    start = 0
    dotted: list[str] = []
    for part in loc:
        if isinstance(part, int):
            hits = [i for i, line in enumerate(lines) if _header(line) == f"[[{'.'.join(dotted)}]]"]
            if part < len(hits):
                found = start = hits[part]
            continue
        dotted.append(part)
        name = ".".join(dotted)
        at = next(
            (i for i in range(start, len(lines)) if _header(lines[i]) in (f"[{name}]", f"[[{name}]]")), None
        )
        if at is None:
            at = _key(lines, start, part)
        if at is not None:
            found = start = at
    return None if found is None else found + 1


def _header(line: str) -> str:
    m = re.match(r"\s*(\[\[?)([^\]]*)(\]\]?)", line)
    if not m:
        return ""
    keys = ".".join(k.strip().strip("\"'") for k in m.group(2).split("."))
    return f"{m.group(1)}{keys}{m.group(3)}"


def _key(lines: list[str], start: int, key: str) -> int | None:
    pattern = re.compile(rf"""\s*["']?{re.escape(key)}["']?\s*=""")
    for i in range(start, len(lines)):
        if i > start and _header(lines[i]):
            return None
        if pattern.match(lines[i]):
            return i
    return None
