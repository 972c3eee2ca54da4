# Encaisse — two commands do all set-up on a fresh machine:
#   make demo   creates .venv, installs, seeds a demo company (logins printed) and serves the portal
#   make test   creates .venv, installs what the tests need, runs ruff, mypy and pytest

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: demo test lint typecheck system-deps venv clean bench

# Debian packages the application and its tests need: Pango and fonts (weasyprint; with
# libharfbuzz-subset0 it subsets fonts in C, else with fontTools, 4x slower per PDF),
# redis-server (the tests start their own), openssl (bundle verification), chromium (the
# portal's browser tests drive Debian's Chromium; no browser is downloaded). PostgreSQL:
# scripts/ensure-postgres.sh.
system-deps:
	@missing=""; \
	ldconfig -p | grep -q libpango-1.0 || missing="$$missing libpango-1.0-0 libpangoft2-1.0-0"; \
	ldconfig -p | grep -q libharfbuzz || missing="$$missing libharfbuzz0b"; \
	ldconfig -p | grep -q libharfbuzz-subset || missing="$$missing libharfbuzz-subset0"; \
	fc-list 2>/dev/null | grep -qi dejavu || missing="$$missing fonts-dejavu-core fontconfig"; \
	$(PYTHON) -c "import venv, ensurepip" 2>/dev/null || missing="$$missing python3-venv"; \
	command -v redis-server >/dev/null || missing="$$missing redis-server"; \
	test -x /usr/bin/chromium || missing="$$missing chromium"; \
	command -v openssl >/dev/null || missing="$$missing openssl"; \
	if [ -n "$$missing" ]; then \
		echo "installing with apt-get:$$missing"; \
		SUDO=""; [ "$$(id -u)" = 0 ] || SUDO="sudo"; \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

$(STAMP): pyproject.toml | system-deps
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check . || true

typecheck: $(STAMP)
	$(BIN)/mypy .

test: system-deps $(STAMP)
	bash scripts/ensure-postgres.sh
	$(BIN)/ruff check .
	$(BIN)/mypy .
	$(BIN)/python -m pytest -n 2 --dist loadfile $(PYTEST_ARGS)

demo: system-deps $(STAMP)
	$(BIN)/encaisse demo

bench: $(STAMP)
	$(BIN)/python bench/validate.py

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .ruff_cache .pytest_cache
