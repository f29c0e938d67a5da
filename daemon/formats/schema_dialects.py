"""A client's JSON Schema for a structured answer, in the dialect each target's native JSON mode takes.

Detour validates the answer against the schema the client gave (``routing.structured``),
so a dialect may loosen what the provider is told as long as it never asks for
something else:

- Anthropic (``output_config.format``) wants ``additionalProperties: false`` on every
  object and refuses numeric, length and most array constraints: those move into the
  description, as the Anthropic SDK's own ``transform_schema`` does, so the model still
  reads them;
- OpenAI (``response_format.json_schema``) takes JSON Schema as is; its ``name`` must
  match ``^[a-zA-Z0-9_-]{1,64}$``;
- Gemini's OpenAPI subset is ``gemini_schema.to_openapi``.
"""

from __future__ import annotations

from typing import Any, Final

from daemon.formats.gemini_schema import map_subschemas, sanitize, subschemas
from daemon.formats.ids import NOT_NAME_CHAR

Schema = dict[str, Any]

# What Anthropic's structured outputs accept beside the structure itself.
_ANTHROPIC_KEEP: Final = frozenset(
    {"type", "properties", "required", "items", "enum", "const", "anyOf", "allOf", "$ref", "$defs",
     "definitions", "description", "title", "default", "additionalProperties", "format", "minItems"}
)  # fmt: skip
_ANTHROPIC_FORMATS: Final = frozenset(
    {"date-time", "time", "date", "duration", "email", "hostname", "uri", "ipv4", "ipv6", "uuid"}
)
DEFAULT_NAME: Final = "response"


def for_anthropic(schema: Any) -> Any:
    """The schema as ``output_config.format.schema`` takes it."""
    return _for_anthropic(sanitize(schema))


def _for_anthropic(schema: Any) -> Any:
    """``for_anthropic`` of a schema ``sanitize`` already cleaned, subtrees included."""
    if not isinstance(schema, dict):
        return schema
    out = map_subschemas(schema, _for_anthropic)
    if "oneOf" in out:
        out["anyOf"] = out.pop("oneOf")
    if out.get("type") == "object" or "properties" in out:
        out["additionalProperties"] = False
    fmt = out.get("format")
    if fmt is not None and fmt not in _ANTHROPIC_FORMATS:
        del out["format"]
        out["x-format"] = fmt  # said in the description below
    if out.get("minItems") not in (None, 0, 1):
        out["x-minItems"] = out.pop("minItems")  # only 0 and 1 are taken; said in the description
    moved = {k: out.pop(k) for k in [k for k in out if k not in _ANTHROPIC_KEEP]}
    if moved:
        said = ", ".join(f"{k.removeprefix('x-')}: {v}" for k, v in moved.items())
        out["description"] = (out["description"] + "\n\n" if out.get("description") else "") + f"{{{said}}}"
    return out


def anthropic_takes(schema: Any) -> bool:
    """Whether closing every object loses nothing: a map (``additionalProperties`` given as a
    schema, or ``true``) cannot be said in structured outputs and needs the forced-tool path."""
    if not isinstance(schema, dict):
        return True
    extra = schema.get("additionalProperties")
    if extra is True or isinstance(extra, dict):
        return False
    return all(anthropic_takes(sub) for sub in subschemas(schema))


def openai_name(name: str | None) -> str:
    """A ``json_schema.name`` OpenAI accepts."""
    if not name:
        return DEFAULT_NAME
    return NOT_NAME_CHAR.sub("_", name)[:64]
