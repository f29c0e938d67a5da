"""Small repositories the tests write, one per supported language.

Each has a multi-line signature, a decorator or annotation where the language
has them, a nested class, a name defined in two files, and a callee the
target calls across files.
"""

from __future__ import annotations

from pathlib import Path

PYTHON = {
    "pkg/__init__.py": "",
    "pkg/engine.py": '''from .util import helper


def retry(fn):
    return fn


class Engine:
    """Runs jobs."""

    class Config:
        """Nested settings."""

        def limit(self) -> int:
            return 3

    @retry
    def run(self,
            job: str,
            times: int = 2) -> str:
        """Run one job."""
        return helper(job) * times
''',
    "pkg/util.py": '''def helper(job: str) -> str:
    """Help a job along."""
    return job


def shared() -> int:
    return 1
''',
    "pkg/other.py": "def shared() -> int:\n    return 2\n",
}
JAVASCRIPT = {
    "src/engine.js": """import { helper } from './util';

/** Runs jobs. */
export class Engine {
  run(job,
      times) {
    return helper(job).repeat(times);
  }
}
""",
    "src/util.js": "/** Help a job along. */\nexport function helper(job) {\n  return job;\n}\nexport function shared() { return 1; }\n",
    "src/other.js": "export function shared() { return 2; }\n",
}
TYPESCRIPT = {
    "src/engine.ts": """import { helper } from './util';

/** Runs jobs. */
export class Engine {
  @logged
  run(job: string,
      times: number): string {
    return helper(job).repeat(times);
  }
}
""",
    "src/util.ts": "/** Help a job along. */\nexport function helper(job: string): string {\n  return job;\n}\nexport interface Job {\n  name: string;\n}\nexport function shared(): number { return 1; }\n",
    "src/other.ts": "export function shared(): number { return 2; }\n",
    "src/view.tsx": "export function View(props: Props) {\n  return <div>{helper(props.name)}</div>;\n}\n",
}
GO = {
    "engine.go": """package engine

// Engine runs jobs.
type Engine struct {
\tName string
}

// Run runs one job.
func (e *Engine) Run(job string,
\ttimes int) string {
\treturn helper(job)
}
""",
    "util.go": "package engine\n\n// helper helps a job along.\nfunc helper(job string) string {\n\treturn job\n}\n\nfunc shared() int { return 1 }\n",
    "other/other.go": "package other\n\nfunc shared() int { return 2 }\n",
}
RUST = {
    "src/engine.rs": """/// Runs jobs.
pub struct Engine {
    name: String,
}

impl Engine {
    #[inline]
    pub fn run(&self,
               job: &str,
               times: usize) -> String {
        helper(job).repeat(times)
    }
}
""",
    "src/util.rs": "/// Help a job along.\npub fn helper(job: &str) -> String {\n    job.to_string()\n}\n\npub fn shared() -> i32 { 1 }\n",
    "src/other.rs": "pub fn shared() -> i32 { 2 }\n",
}
JAVA = {
    "src/Engine.java": """/** Runs jobs. */
public class Engine {
    static class Config {
        int limit() { return 3; }
    }

    @Override
    public String run(String job,
                      int times) {
        return Util.helper(job).repeat(times);
    }
}
""",
    "src/Util.java": "public class Util {\n    /** Help a job along. */\n    static String helper(String job) {\n        return job;\n    }\n    static int shared() { return 1; }\n}\n",
    "src/Other.java": "public class Other {\n    static int shared() { return 2; }\n}\n",
}

# language -> (files, the engine file, the target's qualified name, its multi-line signature's
# last parameter line, the nested class's qualified name or None)
REPOS = {
    "python": (PYTHON, "pkg/engine.py", "Engine.run", "times: int = 2) -> str", "Engine.Config"),
    "javascript": (JAVASCRIPT, "src/engine.js", "Engine.run", "times)", None),
    "typescript": (TYPESCRIPT, "src/engine.ts", "Engine.run", "times: number): string", None),
    "go": (GO, "engine.go", "Engine.Run", "times int) string", None),
    "rust": (RUST, "src/engine.rs", "Engine.run", "times: usize) -> String", None),
    "java": (JAVA, "src/Engine.java", "Engine.run", "int times)", "Engine.Config"),
}
DECORATOR = {"python": "@retry", "typescript": "@logged", "rust": "#[inline]", "java": "@Override"}


def write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root
