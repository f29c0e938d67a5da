"""One source file to its definitions, references and imports, with tree-sitter.

A file with a syntax error is indexed as far as tree-sitter's error recovery
parses it: the definitions it still finds are kept, and ``broken`` says so.
Pure and synchronous: callers run it in a worker thread or process.
"""

from __future__ import annotations

import functools
import posixpath
from collections.abc import Callable
from dataclasses import dataclass, field

import tree_sitter

from daemon.context.languages import GRAMMARS, Grammar, language, parser

_MAX_HEADER_LINES = 12  # a definition without a body (a type alias) shows at most this much
_NAME_FIELDS = ("name", "type")  # Rust's impl_item is named by its type
# Definitions nested deeper than this are not recorded (their names count for the enclosing
# ones): no hand-written code nests so deep, and each level costs every identifier inside it.
MAX_DEPTH = 24
_TYPES = frozenset({"class", "impl", "trait", "interface", "struct", "enum", "record"})


@dataclass(slots=True)
class Definition:
    name: str
    qualname: str  # dotted through the enclosing definitions: "Chain.next_attempt"
    kind: str  # function, class, method, struct, ...
    start: int  # first line, 1-based, decorators and export included
    end: int  # last line
    body: int  # the line the body starts on (== start for a one-line definition)
    signature: str  # the exact text up to the body, over as many lines as it takes
    doc: str  # the first line of its docstring or leading comment
    parent: str | None  # the enclosing definition's qualname
    refs: list[str] = field(default_factory=list)  # names it mentions, each once
    # Lines of a docstring inside the body (Python), which a tight budget may leave out.
    doc_lines: tuple[int, int] | None = None


@dataclass(slots=True)
class FileSymbols:
    language: str
    lines: int
    definitions: list[Definition]
    # Local name -> (module key, member): the module key is a root-relative path stem
    # ("pkg/sub/mod"), the member the imported name in it ("" for the module itself).
    imports: dict[str, tuple[str, str]]
    broken: bool  # tree-sitter found a syntax error


def parse_source(source: bytes, language: str, path: str) -> FileSymbols:
    """``path`` is root-relative with forward slashes; relative imports resolve against it."""
    grammar = GRAMMARS[language]
    tree = parser(language).parse(source)
    walk = _Walk(grammar, source)
    walk.visit(tree.root_node)
    imports = _imports(tree.root_node, language, path, source)
    return FileSymbols(language, source.count(b"\n") + 1, walk.found, imports, tree.root_node.has_error)


class _Walk:
    def __init__(self, grammar: Grammar, source: bytes) -> None:
        self.grammar = grammar
        self.source = source
        self.found: list[Definition] = []
        self.doc_lines: tuple[int, int] | None = None

    def visit(self, root: tree_sitter.Node) -> None:
        """One query finds every definition and identifier (in C: walking every node from
        Python is ten times slower); a sweep in source order hands each identifier to the
        definitions that enclose it."""
        caps = tree_sitter.QueryCursor(_query(self.grammar.name)).captures(root)
        items = [(n.start_byte, 0, n) for n in caps.get("def", ())]
        items += [(n.start_byte, 1, n) for n in caps.get("id", ())]
        items.sort(key=lambda item: (item[0], item[1], -item[2].end_byte))
        source = self.source
        scopes: list[tuple[int, Definition, set[str]]] = []  # (end byte, definition, names seen)
        for start, is_id, node in items:
            while scopes and scopes[-1][0] <= start:
                scopes.pop()
            if is_id:
                text = source[start : node.end_byte].decode(errors="replace")
                for _, d, seen in scopes:
                    if text not in seen:
                        seen.add(text)
                        d.refs.append(text)
                continue
            if len(scopes) >= MAX_DEPTH:
                continue
            parent = scopes[-1][1] if scopes else None
            made = self.definition(node, self.grammar.definitions[node.type], parent)
            if made is not None:
                scopes.append((node.end_byte, made, {made.name}))

    def definition(self, node: tree_sitter.Node, kind: str, parent: Definition | None) -> Definition | None:
        name_node = next((n for f in _NAME_FIELDS if (n := node.child_by_field_name(f)) is not None), None)
        if name_node is None:
            return None
        name = self.text(name_node)
        if self.grammar.name == "go" and node.type == "method_declaration":
            receiver = _go_receiver(node, self.source)
            qualname = f"{receiver}.{name}" if receiver else name
            # The receiver's type is the method's scope, when this file declares it.
            parent = next((d for d in self.found if d.qualname == receiver), None) if receiver else None
        else:
            qualname = f"{parent.qualname}.{name}" if parent else name
        outer = node
        while outer.parent is not None and outer.parent.type in self.grammar.wrappers:
            outer = outer.parent
        if self.grammar.name == "go" and node.type == "type_spec" and node.parent is not None:
            outer = node.parent if node.parent.named_child_count == 1 else node
        first = outer
        while (prev := first.prev_named_sibling) is not None and prev.type in self.grammar.leading:
            first = prev
        body = node.child_by_field_name("body")
        if kind == "function" and parent is not None and parent.kind in _TYPES:
            kind = "method"
        if body is not None:
            header = self.source[first.start_byte : body.start_byte].decode(errors="replace").rstrip()
            header = header.removesuffix("{").removesuffix(":").rstrip()
            body_line = body.start_point[0] + 1
        else:
            lines = self.text(outer).splitlines()
            header = "\n".join(lines[:_MAX_HEADER_LINES])
            body_line = outer.start_point[0] + 1
        self.doc_lines = None
        doc = self.doc(first, body)
        d = Definition(
            name=name,
            qualname=qualname,
            kind=kind,
            start=first.start_point[0] + 1,
            end=outer.end_point[0] + 1,
            body=body_line,
            signature=header,
            doc=doc,
            doc_lines=self.doc_lines,
            parent=parent.qualname if parent else None,
        )
        self.found.append(d)
        return d

    def doc(self, outer: tree_sitter.Node, body: tree_sitter.Node | None) -> str:
        if self.grammar.name == "python":
            first = body.named_children[0] if body is not None and body.named_child_count else None
            if first is not None and first.type == "expression_statement" and first.named_child_count:
                s = first.named_children[0]
                if s.type == "string":
                    self.doc_lines = (s.start_point[0] + 1, s.end_point[0] + 1)
                    return _first_line(self.text(s).strip("rbuRBU").strip("\"'"))
            return ""
        prev = outer.prev_named_sibling
        if prev is not None and prev.type in self.grammar.comments:
            if prev.end_point[0] + 1 >= outer.start_point[0]:
                # The first line of a run of line comments, or of a block comment.
                while (
                    (p := prev.prev_named_sibling) is not None
                    and p.type in self.grammar.comments
                    and p.end_point[0] + 1 >= prev.start_point[0]
                ):
                    prev = p
                return _first_line(self.text(prev))
        return ""

    def text(self, node: tree_sitter.Node) -> str:
        return self.source[node.start_byte : node.end_byte].decode(errors="replace")


@functools.cache
def _query(name: str) -> tree_sitter.Query:
    grammar, lang = GRAMMARS[name], language(name)
    patterns = [f"({t}) @def" for t in grammar.definitions if lang.id_for_node_kind(t, True)]
    patterns += [f"({t}) @id" for t in grammar.identifiers if lang.id_for_node_kind(t, True)]
    return tree_sitter.Query(lang, "\n".join(patterns))


def _first_line(text: str) -> str:
    for line in text.splitlines():
        line = line.strip().lstrip("/*#!").strip().removesuffix("*/").strip()
        if line:
            return line
    return ""


def _go_receiver(node: tree_sitter.Node, source: bytes) -> str:
    receiver = node.child_by_field_name("receiver")
    if receiver is None:
        return ""
    stack = [receiver]
    while stack:
        n = stack.pop()
        if n.type == "type_identifier":
            return source[n.start_byte : n.end_byte].decode(errors="replace")
        stack.extend(reversed(n.children))
    return ""


def _imports(root: tree_sitter.Node, language: str, path: str, source: bytes) -> dict[str, tuple[str, str]]:
    """Imports resolved to module keys where the language says where they come from."""

    def text(n: tree_sitter.Node) -> str:
        return source[n.start_byte : n.end_byte].decode(errors="replace")

    out: dict[str, tuple[str, str]] = {}
    here = posixpath.dirname(path)
    for node in root.named_children:
        if language == "python" and node.type == "import_from_statement":
            module = node.child_by_field_name("module_name")
            if module is None:
                continue
            key = _python_module(text(module), here)
            for name in node.children_by_field_name("name"):
                member, alias = _aliased(name, text)
                out[alias] = (key, member)
        elif language == "python" and node.type == "import_statement":
            for name in node.children_by_field_name("name"):
                member, alias = _aliased(name, text)
                out[alias.split(".")[0]] = (member.replace(".", "/"), "")
        elif language in ("javascript", "typescript", "tsx") and node.type == "import_statement":
            src = node.child_by_field_name("source")
            if src is None or not text(src).strip("'\"").startswith("."):
                continue
            key = posixpath.normpath(posixpath.join(here, text(src).strip("'\"")))
            for spec in _descendants(node, "import_specifier"):
                n = spec.child_by_field_name("name")
                a = spec.child_by_field_name("alias") or n
                if n is not None and a is not None:
                    out[text(a)] = (key, text(n))
    return out


def _aliased(node: tree_sitter.Node, text: Callable[[tree_sitter.Node], str]) -> tuple[str, str]:
    """(the imported name, the name it is bound to here)."""
    if node.type == "aliased_import":
        name, alias = node.child_by_field_name("name"), node.child_by_field_name("alias")
        if name is not None and alias is not None:
            return text(name), text(alias)
    return text(node), text(node)


def _python_module(dotted: str, here: str) -> str:
    dots = len(dotted) - len(dotted.lstrip("."))
    rest = dotted[dots:].replace(".", "/")
    if not dots:
        return rest
    base = here
    for _ in range(dots - 1):
        base = posixpath.dirname(base)
    return posixpath.join(base, rest) if rest else base


def _descendants(node: tree_sitter.Node, kind: str) -> list[tree_sitter.Node]:
    found, stack = [], [node]
    while stack:
        n = stack.pop()
        if n.type == kind:
            found.append(n)
        stack.extend(n.named_children)
    return found
