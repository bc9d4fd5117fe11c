# Two commands for a newcomer: `make run` and `make test`. Both build .venv from python3 first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test check bench soak clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/posturetest $(ARGS)

check: $(STAMP)
	$(BIN)/ruff check posturetest tests
	$(BIN)/ruff format --check posturetest tests
	$(BIN)/mypy
	$(BIN)/lint-imports

test: check
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python -m tests.bench.run

# The torture test of tests/e2e/test_torture.py with 500 SIGKILLs instead of 20 (about 25 minutes);
# it ends with "kills: N, confirmed ratings checked: M, lost: 0".
soak: $(STAMP)
	POSTURETEST_SOAK_KILLS=$${POSTURETEST_SOAK_KILLS:-500} \
		$(BIN)/python -m pytest -q -s tests/e2e/test_torture.py $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
