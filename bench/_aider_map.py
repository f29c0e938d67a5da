"""Run by bench/context.py with a Python that has aider-chat (a throwaway venv, never detour's).

argv: ROOT, JSON list of "path::qualname" targets, JSON list of budgets, OUT. Writes
{budget: {target: map text}} to OUT as JSON: aider's RepoMap for each target, personalized the
way aider does it for a file and an identifier the user mentions. Tokens are
counted a token per three characters, as close to detour's count as aider's
own hook allows (its tokenizer would be downloaded, and this runs offline).
"""

import json
import os
import sys

from aider.io import InputOutput
from aider.repomap import RepoMap


class Model:
    def token_count(self, text: str) -> int:
        return -(-len(text) // 3)


def main() -> None:
    root, targets, budgets = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
    files = [os.path.join(d, f) for d, _, names in os.walk(root) for f in names if f.endswith(".py")]
    io = InputOutput(pretty=False, yes=True)
    out: dict[int, dict[str, str]] = {}
    for budget in budgets:
        rm = RepoMap(map_tokens=budget, root=root, main_model=Model(), io=io, refresh="always")
        out[budget] = {}
        for target in targets:
            path, _, qualname = target.partition("::")
            text = rm.get_ranked_tags_map(
                [],
                files,
                max_map_tokens=budget,
                mentioned_fnames={path},
                mentioned_idents={qualname.rpartition(".")[2]},
            )
            out[budget][target] = text or ""
    with open(sys.argv[4], "w") as f:  # not stdout: aider prints its progress there
        json.dump(out, f)


if __name__ == "__main__":
    main()
