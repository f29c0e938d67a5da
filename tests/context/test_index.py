"""The index and extraction on small repositories in each supported language."""

from __future__ import annotations

from pathlib import Path

import pytest

from daemon.context import extract
from daemon.context.index import ProjectIndex
from daemon.context.languages import EXTENSIONS
from daemon.context.parse import parse_source
from tests.context.samples import DECORATOR, PYTHON, REPOS, write


@pytest.mark.parametrize("language", sorted(REPOS))
def test_symbol_context_in_each_language(tmp_path: Path, language: str) -> None:
    files, engine, target, last_param, nested = REPOS[language]
    index = ProjectIndex(write(tmp_path, files))
    assert index.build().files == len(files)
    found = extract.context(index, f"{engine}::{target}", 2000)
    # The target in full, its multi-line signature included, with line numbers.
    assert last_param in found.text
    if language in DECORATOR:
        assert DECORATOR[language] in found.text
    # The enclosing class as a header, before the target.
    header = {"rust": "impl Engine", "go": "type Engine struct"}.get(language, "class Engine")
    assert found.text.index(header) < found.text.index(last_param)
    # The callee in another file, as its signature with path and line.
    assert "helper" in found.text.split("# used by the target")[1]
    util = next(p for p in files if "til" in p)
    assert util in found.files
    assert found.tokens <= 2000
    if nested:
        assert any(d.qualname == nested for d in index.symbols(engine).definitions)  # type: ignore[union-attr]


@pytest.mark.parametrize("language", sorted(REPOS))
def test_the_same_name_in_two_files_is_found_in_both(tmp_path: Path, language: str) -> None:
    files = REPOS[language][0]
    index = ProjectIndex(write(tmp_path, files))
    index.build()
    lines = extract.find_symbol(index, "shared").splitlines()
    assert len(lines) == 2
    assert len({line.split(":")[0] for line in lines}) == 2


def test_imports_pick_the_right_one_of_two_same_names(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "a.py": "def load():\n    '''A's.'''\n",
            "b.py": "def load():\n    '''B's.'''\n",
            "c.py": "from b import load\n\ndef main():\n    return load()\n",
            "d.py": "def main():\n    return load()\n",
        },
    )
    index = ProjectIndex(tmp_path)
    index.build()
    used = extract.context(index, "c.py::main", 1000).text.split("# used by")[1]
    assert "B's." in used and "A's." not in used
    # Without an import both are candidates, each with half the weight.
    assert {r.path for r, w in index.resolve("d.py", "load") if w == 0.5} == {"a.py", "b.py"}


def test_a_syntax_error_is_indexed_as_far_as_it_parses(tmp_path: Path) -> None:
    write(
        tmp_path, {"m.py": "def good(a):\n    return a\n\ndef broken(:\n    pass\n\nclass After:\n    pass\n"}
    )
    index = ProjectIndex(tmp_path)
    index.build()
    symbols = index.symbols("m.py")
    assert symbols is not None and symbols.broken
    assert {"good", "After"} <= {d.name for d in symbols.definitions}
    assert "return a" in extract.context(index, "m.py::good", 500).text


def test_binary_huge_minified_and_ignored_files_are_never_shown(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            ".gitignore": "secret.py\ngen/\n",
            "ok.py": "def visible():\n    pass\n",
            "secret.py": "def hidden_by_gitignore():\n    pass\n",
            "gen/made.py": "def hidden_generated():\n    pass\n",
            "sub/.gitignore": "local_*.py\n",
            "sub/local_x.py": "def hidden_nested():\n    pass\n",
            "node_modules/lib/index.js": "function hidden_dependency() {}\n",
            "app.min.js": "function hidden_minified(){}\n",
            "yarn.lock": "x",
        },
    )
    (tmp_path / "blob.py").write_bytes(b"def hidden_binary():\n\x00\x01\x02")
    (tmp_path / "huge.py").write_text("def hidden_huge():\n    pass\n" + "# x\n" * 200_000)
    (tmp_path / "packed.js").write_text("function hidden_packed(){" + "a();" * 3000 + "}")
    index = ProjectIndex(tmp_path)
    index.build()
    names = {d.name for e in index.files.values() if e.symbols for d in e.symbols.definitions}
    assert names == {"visible"}
    with pytest.raises(extract.TargetNotFound):
        extract.context(index, "secret.py", 500)
    # The watcher is never told about the excluded directories.
    watched = index.plan.recursive + index.plan.flat
    assert tmp_path / "node_modules" not in watched and tmp_path / "gen" not in watched
    assert index.plan.flat == [tmp_path]


def test_a_restart_reuses_the_cache_and_a_touch_does_not_reparse(tmp_path: Path) -> None:
    root = write(tmp_path / "repo", REPOS["python"][0])
    first = ProjectIndex(root, cache_dir=tmp_path / "cache")
    assert first.build().parsed == 4
    again = ProjectIndex(root, cache_dir=tmp_path / "cache")
    assert again.build().parsed == 0
    assert (
        extract.context(again, "pkg/engine.py::Engine.run", 1000).text
        == extract.context(first, "pkg/engine.py::Engine.run", 1000).text
    )
    (root / "pkg/util.py").touch()
    (root / "pkg/util.py").write_text((root / "pkg/util.py").read_text())  # new mtime, same bytes
    assert again.update({"pkg/util.py"}) == ["pkg/util.py"]
    assert again.symbols("pkg/util.py") is not None


def test_the_budget_is_kept_and_direct_dependencies_come_first(tmp_path: Path) -> None:
    callees = "".join(
        f"def direct_{i}(a: int,\n             b: int) -> int:\n    '''Doc {i}.'''\n    return deep_{i}(a)\n\n"
        for i in range(40)
    )
    deep = "".join(f"def deep_{i}(a: int) -> int:\n    return a\n\n" for i in range(40))
    calls = " + ".join(f"direct_{i}(1, 2)" for i in range(40))
    write(
        tmp_path,
        {
            "lib.py": callees,
            "deep.py": deep,
            "main.py": f"from lib import *\n\ndef target():\n    return {calls}\n",
        },
    )
    index = ProjectIndex(tmp_path)
    index.build()
    for budget in (200, 400, 800, 3000):
        found = extract.context(index, "main.py::target", budget)
        assert found.tokens <= budget, budget
    small = extract.context(index, "main.py::target", 800).text
    assert "direct_" in small.split("# used by")[1] and "deep_" not in small.split("# used by")[1]
    big = extract.context(index, "main.py::target", 3000).text
    assert big.count("def direct_") == 40 and "Doc 7." in big and "def deep_" in big


def test_files_parse_in_worker_processes_with_the_result_of_parsing_in_place(tmp_path: Path) -> None:
    files = REPOS["typescript"][0]
    index = ProjectIndex(write(tmp_path, files))
    assert index.build().parsed == len(files)
    for rel, entry in index.files.items():
        source = (tmp_path / rel).read_bytes()
        assert entry.symbols == parse_source(source, EXTENSIONS[Path(rel).suffix], rel), rel


@pytest.mark.parametrize("language", sorted(REPOS))
def test_a_syntax_error_in_each_language_keeps_what_parses(tmp_path: Path, language: str) -> None:
    files, engine, target, last_param, _ = REPOS[language]
    broken = {**files, engine: files[engine] + "\n)))} ((( @@ fn def class {\n"}
    index = ProjectIndex(write(tmp_path, broken))
    index.build()
    symbols = index.symbols(engine)
    assert symbols is not None and symbols.broken
    assert last_param in extract.context(index, f"{engine}::{target}", 2000).text


def test_nothing_is_read_through_a_symlink_out_of_the_root(tmp_path: Path) -> None:
    root = write(tmp_path / "proj", PYTHON)
    (tmp_path / "elsewhere.gitignore").write_text("*.py\n")
    (tmp_path / "outside.py").write_text("def outside():\n    pass\n")
    (tmp_path / "outside_dir").mkdir()
    (tmp_path / "outside_dir" / "deep.py").write_text("def deep():\n    pass\n")
    (root / ".gitignore").symlink_to(tmp_path / "elsewhere.gitignore")  # would exclude every file
    (root / "link.py").symlink_to(tmp_path / "outside.py")
    (root / "dir").symlink_to(tmp_path / "outside_dir", target_is_directory=True)
    index = ProjectIndex(root)
    index.build()
    assert set(index.files) == set(PYTHON)
    assert index.named("outside") == [] and index.named("deep") == []
