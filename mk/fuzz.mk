# `make fuzz`: fuzz the analysis pipeline for longer than `make test` does.
# FUZZ_SECONDS bounds the coverage-guided atheris run; FUZZ_EXAMPLES is the
# Hypothesis budget per target and per decoder (the test suite runs 10,000).  Inputs that
# crash are written to FUZZ_DIR; replay one with
# `python tests/fuzz/fuzz_pipeline.py FILE`.
FUZZ_SECONDS ?= 600
FUZZ_EXAMPLES ?= 50000
FUZZ_DIR ?= build/fuzz

.PHONY: fuzz

## fuzz: longer Hypothesis runs, then coverage-guided fuzzing with atheris
fuzz: install-test
	$(BIN)/python -m pip install -q -e ".[fuzz]"
	mkdir -p $(FUZZ_DIR)/corpus
	PHITRACE_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/pytest -q -s -p no:cacheprovider \
	  tests/reliability/test_fuzz_pipeline.py tests/reliability/test_fuzz_decoders.py
	$(BIN)/python tests/fuzz/fuzz_pipeline.py -max_total_time=$(FUZZ_SECONDS) \
	  -rss_limit_mb=4096 -artifact_prefix=$(FUZZ_DIR)/ $(FUZZ_DIR)/corpus
