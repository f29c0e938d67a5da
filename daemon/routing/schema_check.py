"""A fast yes/no check of a JSON value against the JSON Schema keywords answers use.

jsonschema walks a schema keyword by keyword through its generic machinery: on a
20 KB answer of some 700 objects that is 10-20 ms, run on the event loop, per answer.
This compiles a schema once into nested closures that answer only "valid or not"
for the keywords structured-output schemas are made of (types, properties,
required, closed objects, enums, const, items, anyOf/oneOf/allOf/not, local
``$ref``, numeric, length and size bounds, patterns), with jsonschema's meaning
of each (draft 2020-12: ``1.0`` is an integer, ``true`` is not ``1``, unknown
keywords are ignored, ``format`` is an annotation).

``compile_check`` returns None for a schema that uses any assertion keyword outside
that set, or a ``$schema`` other than 2020-12: such schemas go to jsonschema whole.
A value the fast check refuses goes to jsonschema too, for the error message, so
this only ever has to be right about "valid".
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Sized
from typing import Any, Final, cast

Check = Callable[[Any], bool]

# Assertion keywords not compiled here: a schema holding one is checked by jsonschema alone.
_UNCOMPILED: Final = frozenset(
    {"patternProperties", "propertyNames", "dependentRequired", "dependentSchemas", "dependencies",
     "if", "then", "else", "prefixItems", "contains", "minContains", "maxContains",
     "unevaluatedProperties", "unevaluatedItems", "uniqueItems", "multipleOf", "$dynamicRef",
     "$recursiveRef", "$dynamicAnchor", "$recursiveAnchor", "$anchor", "$id", "additionalItems"}
)  # fmt: skip
_DRAFT_2020: Final = frozenset(
    {"https://json-schema.org/draft/2020-12/schema", "https://json-schema.org/draft/2020-12/schema#"}
)
_TYPES: Final[dict[str, Check]] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "integer": lambda v: (
        (isinstance(v, int) and not isinstance(v, bool)) or (isinstance(v, float) and v.is_integer())
    ),
}  # fmt: skip


class _Unsupported(Exception):
    pass


def compile_check(schema: Any) -> Check | None:
    """A compiled yes/no check for ``schema``, or None where only jsonschema will do."""
    if isinstance(schema, dict) and schema.get("$schema", next(iter(_DRAFT_2020))) not in _DRAFT_2020:
        return None
    try:
        return _Compiler(schema).compile(schema)
    except _Unsupported:
        return None


def _equal(a: Any, b: Any) -> bool:
    """JSON equality: ``true`` is not ``1``, ``1`` is ``1.0``, containers compared deeply."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    return type(a) is type(b) and a == b


def _bound(value: Any, kind: str) -> Any:
    if not _TYPES[kind](value):
        raise _Unsupported
    return value


def _numeric(op: Callable[[Any, Any], bool], bound: Any) -> Check:
    number = _TYPES["number"]
    return lambda v: not number(v) or op(v, bound)


def _sized(kind: type, op: Callable[[int, Any], bool], bound: Any) -> Check:
    def check(v: Any) -> bool:
        return not isinstance(v, kind) or op(len(cast(Sized, v)), bound)

    return check


def _any_of(branches: list[Check]) -> Check:
    return lambda v: any(b(v) for b in branches)


def _one_of(branches: list[Check]) -> Check:
    return lambda v: sum(1 for b in branches if b(v)) == 1


def _all_of(branches: list[Check]) -> Check:
    return lambda v: all(b(v) for b in branches)


_COMBINE: Final = {"anyOf": _any_of, "oneOf": _one_of, "allOf": _all_of}


class _Compiler:
    def __init__(self, root: Any) -> None:
        self.root = root
        self.refs: dict[str, list[Check]] = {}

    def compile(self, schema: Any) -> Check:
        if schema is True or schema == {}:
            return lambda v: True
        if schema is False:
            return lambda v: False
        if not isinstance(schema, dict):
            raise _Unsupported
        if _UNCOMPILED & schema.keys():
            raise _Unsupported
        checks = [c for c in (self._type(schema), self._enum(schema), *self._bounds(schema)) if c is not None]
        checks += self._object(schema) + self._array(schema) + self._combinators(schema)
        if isinstance(schema.get("$ref"), str):
            checks.append(self._ref(schema["$ref"]))
        if not checks:
            return lambda v: True
        if len(checks) == 1:
            return checks[0]
        return lambda v: all(c(v) for c in checks)

    def _type(self, s: dict[str, Any]) -> Check | None:
        t = s.get("type")
        if t is None:
            return None
        names = [t] if isinstance(t, str) else t
        if not isinstance(names, list) or any(n not in _TYPES for n in names):
            raise _Unsupported
        preds = [_TYPES[n] for n in names]
        if len(preds) == 1:
            return preds[0]
        return lambda v: any(p(v) for p in preds)

    def _enum(self, s: dict[str, Any]) -> Check | None:
        if "const" in s:
            const = s["const"]
            return lambda v: _equal(v, const)
        values = s.get("enum")
        if values is None:
            return None
        if not isinstance(values, list):
            raise _Unsupported
        if all(isinstance(x, str) for x in values):
            strings = frozenset(values)
            return lambda v: isinstance(v, str) and v in strings
        return lambda v: any(_equal(v, x) for x in values)

    def _bounds(self, s: dict[str, Any]) -> list[Check | None]:
        out: list[Check | None] = []
        for key, op in (("minimum", operator.ge), ("maximum", operator.le),
                        ("exclusiveMinimum", operator.gt), ("exclusiveMaximum", operator.lt)):  # fmt: skip
            if key in s:
                out.append(_numeric(op, _bound(s[key], "number")))
        for key, kind, op in (
            ("minLength", str, operator.ge), ("maxLength", str, operator.le),
            ("minItems", list, operator.ge), ("maxItems", list, operator.le),
            ("minProperties", dict, operator.ge), ("maxProperties", dict, operator.le),
        ):  # fmt: skip
            if key in s:
                out.append(_sized(kind, op, _bound(s[key], "integer")))
        if "pattern" in s:
            try:
                rx = re.compile(s["pattern"])
            except (re.error, TypeError):
                raise _Unsupported from None
            out.append(lambda v: not isinstance(v, str) or rx.search(v) is not None)
        return out

    def _object(self, s: dict[str, Any]) -> list[Check]:
        out: list[Check] = []
        required = s.get("required")
        if required:
            if not isinstance(required, list):
                raise _Unsupported
            names = tuple(required)
            out.append(lambda v: not isinstance(v, dict) or all(n in v for n in names))
        props_raw = s.get("properties") or {}
        if not isinstance(props_raw, dict):
            raise _Unsupported
        props = {k: self.compile(sub) for k, sub in props_raw.items()}
        extra_raw = s.get("additionalProperties", True)
        extra = None if extra_raw is True else self.compile(extra_raw)
        if props or extra is not None:

            def fields(v: Any) -> bool:
                if not isinstance(v, dict):
                    return True
                for k, item in v.items():
                    check = props.get(k, extra)
                    if check is not None and not check(item):
                        return False
                return True

            out.append(fields)
        return out

    def _array(self, s: dict[str, Any]) -> list[Check]:
        if "items" not in s:
            return []
        if isinstance(s["items"], list):
            raise _Unsupported  # the tuple form of older drafts
        item = self.compile(s["items"])
        return [lambda v: not isinstance(v, list) or all(item(x) for x in v)]

    def _combinators(self, s: dict[str, Any]) -> list[Check]:
        out: list[Check] = []
        for key in ("anyOf", "oneOf", "allOf"):
            if key not in s:
                continue
            if not isinstance(s[key], list) or not s[key]:
                raise _Unsupported
            out.append(_COMBINE[key]([self.compile(b) for b in s[key]]))
        if "not" in s:
            negated = self.compile(s["not"])
            out.append(lambda v: not negated(v))
        return out

    def _ref(self, ref: str) -> Check:
        """A local ``#/...`` reference, compiled once; a cell makes recursive references work."""
        if ref not in self.refs:
            cell: list[Check] = []
            self.refs[ref] = cell
            cell.append(self.compile(self._target(ref)))
        cell = self.refs[ref]
        return lambda v: cell[0](v)

    def _target(self, ref: str) -> Any:
        if not ref.startswith("#"):
            raise _Unsupported
        node: Any = self.root
        for token in ref[1:].split("/")[1:] if ref != "#" else []:
            token = token.replace("~1", "/").replace("~0", "~")
            if not isinstance(node, dict) or token not in node:
                raise _Unsupported
            node = node[token]
        return node
