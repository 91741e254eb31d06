"""``python -m abm``: the same command line as ``abm``."""

from abm.cli import app

app(prog_name="abm")
