"""The scenario library as package data: installed as ``abm.scenarios``.

This folder holds YAML files only; this file makes it an importable package so the
library ships inside the wheel and is found through :mod:`importlib.resources` in
both an installed and an editable (developer checkout) install. Find files with
:func:`abm.scenario.library.library_dir`, never with a path relative to the source.
"""
