"""The grammars detour ships (per-language wheels, nothing downloaded) and what their nodes mean."""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass

import tree_sitter
import tree_sitter_go
import tree_sitter_java
import tree_sitter_javascript
import tree_sitter_python
import tree_sitter_rust
import tree_sitter_typescript


@dataclass(frozen=True, slots=True)
class Grammar:
    name: str
    # Definition node type -> the symbol kind shown to agents.
    definitions: dict[str, str]
    # Nodes that only wrap a definition (decorators, export): the signature starts at them.
    wrappers: frozenset[str] = frozenset()
    # Leaf node types whose text names something another definition may define.
    identifiers: frozenset[str] = frozenset({"identifier", "type_identifier"})
    comments: frozenset[str] = frozenset({"comment"})
    # Siblings just before a definition that belong to it (Rust attributes, TS member decorators).
    leading: frozenset[str] = frozenset()


_JS_DEFS = {
    "function_declaration": "function",
    "generator_function_declaration": "function",
    "class_declaration": "class",
    "method_definition": "method",
}
_TS_DEFS = _JS_DEFS | {
    "abstract_class_declaration": "class",
    "interface_declaration": "interface",
    "type_alias_declaration": "type",
    "enum_declaration": "enum",
    "function_signature": "function",
}
_JS_IDS = frozenset({"identifier", "type_identifier", "property_identifier"})

GRAMMARS: dict[str, Grammar] = {
    "python": Grammar(
        "python",
        {"function_definition": "function", "class_definition": "class"},
        wrappers=frozenset({"decorated_definition"}),
        identifiers=frozenset({"identifier"}),
    ),
    "javascript": Grammar("javascript", _JS_DEFS, frozenset({"export_statement"}), _JS_IDS),
    "typescript": Grammar(
        "typescript", _TS_DEFS, frozenset({"export_statement"}), _JS_IDS, leading=frozenset({"decorator"})
    ),
    "tsx": Grammar(
        "tsx", _TS_DEFS, frozenset({"export_statement"}), _JS_IDS, leading=frozenset({"decorator"})
    ),
    "go": Grammar(
        "go",
        {"function_declaration": "function", "method_declaration": "method", "type_spec": "type"},
        identifiers=frozenset({"identifier", "type_identifier", "field_identifier"}),
    ),
    "rust": Grammar(
        "rust",
        {
            "function_item": "function",
            "function_signature_item": "function",
            "struct_item": "struct",
            "enum_item": "enum",
            "trait_item": "trait",
            "impl_item": "impl",
            "mod_item": "module",
            "type_item": "type",
        },
        comments=frozenset({"line_comment", "block_comment"}),
        leading=frozenset({"attribute_item"}),
    ),
    "java": Grammar(
        "java",
        {
            "class_declaration": "class",
            "interface_declaration": "interface",
            "enum_declaration": "enum",
            "record_declaration": "record",
            "method_declaration": "method",
            "constructor_declaration": "constructor",
        },
        comments=frozenset({"line_comment", "block_comment"}),
    ),
}

EXTENSIONS = {
    ".py": "python",
    ".pyi": "python",
    ".js": "javascript",
    ".jsx": "javascript",
    ".mjs": "javascript",
    ".cjs": "javascript",
    ".ts": "typescript",
    ".mts": "typescript",
    ".cts": "typescript",
    ".tsx": "tsx",
    ".go": "go",
    ".rs": "rust",
    ".java": "java",
}


_local = threading.local()


def parser(name: str) -> tree_sitter.Parser:
    """A parser for this thread: a tree-sitter parser holds state and is not thread-safe."""
    parsers: dict[str, tree_sitter.Parser] = _local.__dict__.setdefault("parsers", {})
    found = parsers.get(name)
    if found is None:
        found = parsers[name] = tree_sitter.Parser(language(name))
    return found


@functools.cache
def language(name: str) -> tree_sitter.Language:
    match name:
        case "python":
            return tree_sitter.Language(tree_sitter_python.language())
        case "javascript":
            return tree_sitter.Language(tree_sitter_javascript.language())
        case "typescript":
            return tree_sitter.Language(tree_sitter_typescript.language_typescript())
        case "tsx":
            return tree_sitter.Language(tree_sitter_typescript.language_tsx())
        case "go":
            return tree_sitter.Language(tree_sitter_go.language())
        case "rust":
            return tree_sitter.Language(tree_sitter_rust.language())
        case "java":
            return tree_sitter.Language(tree_sitter_java.language())
    raise ValueError(f"no grammar for {name!r}")
