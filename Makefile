# issue-factory: `make demo` runs the pipeline on the built-in example, `make test` runs the tests.
# Both do all set-up first: virtualenv + install, Docker engine (installed/started if needed, as root
# on Debian), and the Python base image (pulled, or bootstrapped offline from Debian packages);
# `make test` also installs Debian's chromium, the headless browser the report test opens pages in.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: demo test venv docker base browser lint bench

demo: base
	$(BIN)/factory demo

test: base browser
	$(BIN)/python -m pytest

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@

docker:
	scripts/ensure-docker.sh

browser:
	scripts/ensure-chromium.sh

base: venv docker
	scripts/ensure-debootstrap.sh
	$(BIN)/factory images ensure

lint: venv
	$(BIN)/ruff check .

bench: base
	$(BIN)/python bench/pipeline.py
