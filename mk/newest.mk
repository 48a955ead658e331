# The newest CPython here with mitmproxy 12 or newer, as the container image runs them.
.PHONY: test-newest

## test-newest: unit, property and end-to-end tests under the newest CPython 3.12+ (.venv-newest)
test-newest: system-deps
	bash scripts/test-newest.sh $(ARGS)
