# phitrace: the two set-up commands are `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SUDO := $(shell [ "$$(id -u)" = 0 ] || command -v sudo >/dev/null 2>&1 && [ "$$(id -u)" != 0 ] && echo sudo)
APT_PACKAGES := chromium poppler-utils postgresql

.PHONY: run test test-fast install install-test system-deps lint format typecheck bench clean

$(BIN)/python:
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "phitrace needs Python 3.11 or newer"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

## run: install phitrace and start the proxy on 127.0.0.1:8080, recording to ./phitrace.db
run: install
	$(BIN)/phitrace proxy --listen-host 127.0.0.1 --listen-port 8080 --db phitrace.db $(ARGS)

install: $(BIN)/python
	$(BIN)/python -m pip install -q .

install-test: $(BIN)/python
	$(BIN)/python -m pip install -q -e ".[test]"

## system-deps: Debian packages the tests need (headless Chromium; poppler-utils reads PDFs back; PostgreSQL for the second store)
system-deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

## test: install everything the tests need, then lint and run the whole suite
test: system-deps install-test lint typecheck
	$(BIN)/pytest -ra

## test-fast: the unit and property tests only, for the inner loop (under a minute)
test-fast: install-test
	$(BIN)/pytest -q -m "not slow" tests/unit tests/property $(ARGS)

lint:
	$(BIN)/ruff check addon tests examples
	$(BIN)/ruff format --check addon tests examples

format:
	$(BIN)/ruff format addon tests examples
	$(BIN)/ruff check --fix addon tests examples

typecheck:
	$(BIN)/mypy

## bench: performance figures (not part of `make test`)
bench: install-test
	$(BIN)/python -m pip install -q -e ".[test,bench]"
	$(BIN)/python -m tests.bench

clean:
	rm -rf $(VENV) .venv-newest build dist *.egg-info .pytest_cache .ruff_cache .mypy_cache

-include mk/*.mk
