"""Writes requirements-dev.lock from a `pip install --dry-run --report` resolution.

Run through `make lock`. Every package the dev environment needs, pinned; the
project itself is left out (the Makefile installs it editable).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HEADER = """\
# The development environment, pinned (Linux and macOS, Python 3.11+). Renew with `make lock`.
# `make` installs these first, then the project (`pip install -e '.[dev]'`), which adds
# only what is missing here.
"""


def main(report: str, out: str) -> None:
    data = json.loads(Path(report).read_text())
    pins = sorted(
        (item["metadata"]["name"].lower(), item["metadata"]["version"])
        for item in data["install"]
        if item["metadata"]["name"].lower() != "detour-gateway"
    )
    Path(out).write_text(HEADER + "".join(f"{name}=={version}\n" for name, version in pins))
    print(f"{out}: {len(pins)} packages pinned")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
