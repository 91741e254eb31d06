"""Build the API reference (HTML, from the docstrings) with pdoc: `make api`.

    .venv/bin/python scripts/api_docs.py [OUT]     # default out/api; open OUT/index.html

Documents every module of the abm and viz packages (not abm.__main__, which runs the
command line, nor the scenario library's data package).
"""

from __future__ import annotations

import pkgutil
import sys
from pathlib import Path

import pdoc

import abm
import viz

SKIP = {"abm.__main__", "abm.scenarios"}


def modules() -> list[str]:
    names = ["abm", "viz"]
    for pkg in (abm, viz):
        for info in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + "."):
            if info.name not in SKIP:
                names.append(info.name)
    return names


def main() -> int:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "out/api")
    pdoc.render.configure(docformat="google", search=True)
    pdoc.pdoc(*modules(), output_directory=out)
    print(f"API reference: {out / 'index.html'} ({len(modules())} modules)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
