# Performance: `make bench` (in the Makefile) prints the figures; these help find where time goes.
.PHONY: install-bench bench-quick bench-profile

install-bench: install-test
	$(BIN)/python -m pip install -q -e ".[bench]"

# `make bench` needs the bench extra too; a rule without a recipe only adds a prerequisite.
bench: install-bench

## bench-quick: every benchmark at reduced size, to check the harness (figures not comparable)
bench-quick: install-bench
	$(BIN)/python -m tests.bench --quick

## bench-profile: pyinstrument over the core pipeline, py-spy over the proxy; see build/bench/
bench-profile: install-bench
	$(BIN)/python -m tests.bench.hotspots
