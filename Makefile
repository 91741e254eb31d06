# Developer entry points. `make` alone creates/updates the virtualenv in .venv.
#   make test [PYTEST_ARGS='-k foo']   run the test suite
#   make ui                            start the UI (abm ui)
#   make lint / make format            ruff + mypy checks / ruff fixes
#   make api                           API reference from the docstrings -> out/api/
#   make lock [UPGRADE=1]              re-compile requirements.lock from pyproject.toml
#                                      (keeps today's pins unless UPGRADE=1)
#   make bench [BENCH_ARGS=--quick]    benchmark suite -> bench/results.json (abm bench)
#   make clean                         remove .venv and caches
#   make PYTHON=/path/to/python3.12    choose the interpreter used to create .venv

SHELL := /bin/sh
.DEFAULT_GOAL := venv

PYTHON ?=
PYTEST_ARGS ?=
BENCH_ARGS ?=
UPGRADE ?=
LOCK := requirements.lock
VENV := .venv
VENV_PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: venv ui test bench lint format lock api clean

# Setuptools' editable install maps only the top-level packages that existed at
# install time (and freezes a package without __init__.py as a namespace), so
# re-install (fast, --no-deps) when abm/ or viz/ appears or gains __init__.py.
EDITABLE_STALE := import glob, importlib.util as u, os, sys; \
	sys.exit(any(glob.glob(p + "/*.py") and ((s := u.find_spec(p)) is None \
	or (os.path.isfile(p + "/__init__.py") and not s.origin)) for p in ("abm", "viz")))

venv: $(STAMP)
	@$(VENV_PY) -P -c '$(EDITABLE_STALE)' \
		|| { echo "New top-level package: re-installing the project into $(VENV)"; \
		     $(VENV_PY) -m pip install --no-deps -e . ; }

# (Re)create .venv when it is missing or its interpreter is broken or < 3.12,
# then install the project editable with dev extras, every package at the version of
# $(LOCK) (a constraints file: the tested set). Re-runs only when pyproject.toml or the
# lock is newer than the stamp.
$(STAMP): pyproject.toml $(LOCK)
	@if ! $(VENV_PY) -c 'import sys; sys.exit(sys.version_info < (3,12))' >/dev/null 2>&1; then \
		py=$$(PYTHON='$(PYTHON)' sh scripts/find-python.sh) || exit 1; \
		rm -rf $(VENV); \
		echo "Creating $(VENV) with $$py"; \
		"$$py" -m venv $(VENV) || { rm -rf $(VENV); \
			echo "error: '$$py -m venv' failed (Debian/Ubuntu: apt-get install python3-venv)" >&2; \
			exit 1; }; \
	fi
	$(VENV_PY) -m pip install -e '.[dev]' -c $(LOCK)
	@touch $@

ui: venv
	SOLARA_TELEMETRY_MIXPANEL_ENABLE=false $(VENV)/bin/abm ui

test: venv
	$(VENV_PY) -m pytest $(PYTEST_ARGS)

bench: venv
	$(VENV)/bin/abm bench $(BENCH_ARGS)

lint: venv
	@status=0; \
	$(VENV)/bin/ruff check . || status=1; \
	$(VENV)/bin/ruff format --check . || status=1; \
	$(VENV)/bin/mypy || status=1; \
	exit $$status

format: venv
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

api: venv
	$(VENV_PY) scripts/api_docs.py out/api

# The lock: every package (with dev extras) that pyproject.toml resolves to on Python 3.12,
# pinned. uv keeps the versions already in the file unless UPGRADE=1 (--upgrade).
lock: venv
	$(VENV)/bin/uv pip compile pyproject.toml --extra dev --python-version 3.12 \
		-o $(LOCK) $(if $(UPGRADE),--upgrade)
	@echo "Re-install from the new lock with: make venv"

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .ruff_cache .mypy_cache .hypothesis
	find . -path ./.git -prune -o -type d -name __pycache__ -exec rm -rf {} +
