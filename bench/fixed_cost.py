"""The fixed cost of a request, apart from its frames: ``bench/overhead.py`` on short answers.

An answer of 2 frames (one content chunk, then the finish chunk with usage) makes the
per-request part (routing, health, budget admission and settlement, telemetry, the
report row, headers) most of what detour adds, in both modes, same-format and
translated, against the same floor as ``overhead.py`` and with its options (``--before``,
``--rounds``, ``--requests``, ``--only``, ``--wrk-seconds``). ``--frames`` sets the length.

    .venv/bin/python bench/fixed_cost.py [--before /work/main] [--rounds 3] [--frames 2]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import overhead  # noqa: E402


def main() -> None:
    frames = 2
    if "--frames" in sys.argv:
        i = sys.argv.index("--frames")
        frames = int(sys.argv[i + 1])
        del sys.argv[i : i + 2]
    overhead.FRAMES = (frames,)  # type: ignore[assignment]  # one length, not overhead.py's two
    overhead.main()


if __name__ == "__main__":
    main()
