"""The ``abm`` command: ``python -m abm`` and the console script (``abm.__main__:main``)."""

import sys


def main() -> None:
    """Run the ``abm`` command line on ``sys.argv``.

    ``abm scenarios list`` exactly is answered here, without importing Typer and
    building the whole command line (about half of that command's start-up time); the
    listing is :func:`abm.scenario.library.print_library`, the function the Typer
    command calls too, so both print the same bytes. Everything else goes to
    :data:`abm.cli.app`.
    """
    if sys.argv[1:] == ["scenarios", "list"]:
        from abm.scenario.library import print_library

        sys.exit(print_library())
    from abm.cli import app

    app(prog_name="abm")


if __name__ == "__main__":
    main()
