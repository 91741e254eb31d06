"""Paired before/after timing of the baseline run: two source trees, alternating runs.

Run (from the checkout, with the other tree e.g. a ``git worktree`` of an older commit)::

    .venv/bin/python bench/paired.py --before /path/to/old/checkout --pairs 8

Each run is a fresh process that builds and simulates the baseline (seed 1) and
reports its wall and CPU time; runs alternate old, new, old, new... so both
see the same machine load. Prints the medians, the median of the per-pair
ratios (new / old) and exits 0. CPU time is the steadier figure on a busy
machine. A benchmark, not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

CHILD = """
import json, time
try:
    from abm.engine.model import SupplyChainModel
except ImportError:  # the flat layout before the architecture change
    from abm.model import SupplyChainModel
w0, c0 = time.perf_counter(), time.process_time()
m = SupplyChainModel.from_scenario("baseline", seed=1)
m.run()
print(json.dumps({"wall": time.perf_counter() - w0, "cpu": time.process_time() - c0,
                  "weeks": m.steps}))
"""


def one(root: Path) -> dict[str, float]:
    """Time one baseline run with ``root`` first on the import path."""
    env = {**os.environ, "PYTHONPATH": str(root)}
    done = subprocess.run(
        [sys.executable, "-c", CHILD],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", type=Path, required=True, help="checkout of the old code")
    ap.add_argument("--after", type=Path, default=Path(__file__).resolve().parents[1])
    ap.add_argument("--pairs", type=int, default=8)
    args = ap.parse_args()
    old: list[dict[str, float]] = []
    new: list[dict[str, float]] = []
    for i in range(args.pairs):
        old.append(one(args.before))
        new.append(one(args.after))
        print(
            f"pair {i + 1}: before {old[-1]['wall']:.3f} s wall / {old[-1]['cpu']:.3f} s cpu, "
            f"after {new[-1]['wall']:.3f} s wall / {new[-1]['cpu']:.3f} s cpu"
        )
    for key in ("wall", "cpu"):
        a = statistics.median(r[key] for r in old)
        b = statistics.median(r[key] for r in new)
        ratio = statistics.median(n[key] / o[key] for o, n in zip(old, new, strict=True))
        print(
            f"{key}: before median {a:.3f} s, after median {b:.3f} s, "
            f"median paired ratio after/before {ratio:.3f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
