"""The commented default file, written on first run: every table and setting of the
declaration in ``schema``, with its default and its comment, and a starter set of
providers and routes. Settings the declaration marks ``show`` (and the starter's own)
are written; the rest are commented out at their default, so the file shows every
choice without making one."""

from __future__ import annotations

import dataclasses
import json
import textwrap
import typing
from typing import Any

from daemon.config.schema import Config, ProjectConfig, ProviderConfig, RouteSettings

COLUMN = 28  # where a setting's comment starts
WIDTH = 100
HEADER = """\
# detour config. Keys never go in this file: `detour keys set PROVIDER` puts them
# in the OS keyring, or name an environment variable with api_key_env."""
# The starter set, as a user would write it: a table per provider kind, an example of one
# of your own (commented), a coding route and the route for every other name.
STARTER_PROVIDERS: tuple[dict[str, Any], ...] = (
    {"id": "anthropic", "kind": "anthropic"},
    {"id": "openai", "kind": "openai"},
    {"id": "gemini", "kind": "gemini"},
    {"id": "deepseek", "kind": "openai-compatible", "base_url": "https://api.deepseek.com/v1"},
    {"id": "sim", "kind": "sim"},
)
STARTER_ROUTES: tuple[dict[str, Any], ...] = (
    {
        "name": "coder",
        "match": ("claude-*", "gpt-*"),
        "chain": ("anthropic/claude-sonnet-4-5", "openai/gpt-4.1", "gemini/gemini-2.5-pro"),
    },
    {
        "name": "default",
        "chain": ("anthropic/claude-sonnet-4-5", "openai/gpt-4.1", "gemini/gemini-2.5-flash"),
    },
)
NOTES = {  # what a table's own line says in the starter, beyond the declaration
    "sim": "built-in simulated provider: deterministic, no network, no key",
    "deepseek": "a provider of your own: any OpenAI-compatible endpoint",
    "default": "where requests for unknown models go",
}


def render() -> str:
    out = [HEADER, ""]
    hints = _hints(Config)
    top = [f for f in dataclasses.fields(Config) if f.name != "path"]
    for f in top:  # plain values first: in TOML every key after a header belongs to that table
        if _dataclass(hints[f.name]) is None:
            out.append(_setting(f.name, hints[f.name], _default(f), shown=False))
    for f in top:
        cls, doc = _dataclass(hints[f.name]), _doc(hints[f.name])
        if cls is None:
            continue
        out.append("")
        if cls is ProviderConfig:
            for i, p in enumerate(STARTER_PROVIDERS):
                head = f"[providers.{p['id']}]"
                commented = p["kind"] == "openai-compatible"
                out += _table(
                    cls, head, doc if i == 0 else NOTES.get(p["id"], ""), p, commented, options=i == 0
                )
                out.append("")
            out.pop()
        elif cls is RouteSettings:
            for i, r in enumerate(STARTER_ROUTES):
                out += _table(cls, "[[routes]]", NOTES.get(r["name"], ""), r, False, options=i == 0)
                out.append("")
            out.pop()
        elif cls is ProjectConfig:
            out += _table(cls, "[[projects]]", doc, {}, True)
        else:
            out += _table(cls, f"[{f.name}]", doc, {}, _default(f) is None)
    return "\n".join(out) + "\n"


def _table(
    cls: Any, header: str, doc: str, given: dict[str, Any], commented: bool, options: bool = True
) -> list[str]:
    """A table: ``given`` settings written, the others commented at their default."""
    hints = _hints(cls)
    out = [_line(header, doc, commented)]
    after: list[str] = []
    for f in dataclasses.fields(cls):
        hint = hints[f.name]
        sub = _dataclass(hint)
        if f.name == "id" or typing.get_origin(_bare(hint)) is tuple and sub is not None:
            continue  # the table's name; lists of tables (a sim provider's faults) are for the expert
        if sub is not None:
            if options:
                name = (
                    f'{header[:-1]}.models."claude-x"]' if f.name == "models" else f"{header[:-1]}.{f.name}]"
                )
                after += ["", *_table(sub, name, _doc(hint), {}, commented or f.name == "models")]
            continue
        if f.name in given:
            line = _setting(f.name, hint, given[f.name], shown=True, commented=commented)
            out.append(line if options else line.split(" #")[0].rstrip())
        elif options or _extra(hint).get("show"):
            out.append(_setting(f.name, hint, _default(f), shown=False, commented=commented))
    return out + after


def _setting(name: str, hint: Any, value: Any, *, shown: bool, commented: bool = False) -> str:
    extra = _extra(hint)
    if "example" in extra and (value is None or value == () or not shown and isinstance(value, str)):
        value, shown = None, False
    text = f"{name} = {extra['example'] if value is None else _toml(value)}"
    return _line(text, _doc(hint), commented or not (shown or extra.get("show")))


def _line(text: str, doc: str, commented: bool) -> str:
    text = "# " + text if commented else text
    if not doc:
        return text
    width = max(COLUMN - 1, len(text) + 1)
    lines = textwrap.wrap(doc, WIDTH - width - 2)
    return "\n".join(f"{text if i == 0 else '':<{width}} # {part}" for i, part in enumerate(lines))


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.2f}" if value != int(value) else str(int(value))
    if isinstance(value, tuple | list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _default(f: Any) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return None


def _hints(cls: Any) -> dict[str, Any]:
    return typing.get_type_hints(cls, include_extras=True)


def _doc(hint: Any) -> str:
    return next(
        (str(m.description) for m in getattr(hint, "__metadata__", ()) if getattr(m, "description", None)), ""
    )


def _extra(hint: Any) -> dict[str, Any]:
    for m in getattr(hint, "__metadata__", ()):
        extra = getattr(m, "json_schema_extra", None)
        if isinstance(extra, dict):
            return extra
    return {}


def _bare(hint: Any) -> Any:
    return typing.get_args(hint)[0] if typing.get_origin(hint) is typing.Annotated else hint


def _dataclass(hint: Any) -> Any:
    """The table class an annotation holds: ``X``, ``X | None``, ``tuple[X, ...]``, ``dict[str, X]``."""
    tp = _bare(hint)
    for arg in (tp, *typing.get_args(tp)):
        arg = _bare(arg)
        if hasattr(arg, "__pydantic_config__"):  # a table (a Target is a "provider/model" string)
            return arg
    return None


DEFAULT_CONFIG = render()
