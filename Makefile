# The two commands a new machine needs:  make demo   and   make test
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test test-long lint install bench soak clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

## Run the whole story on the embedded default (no services needed).
demo: $(STAMP)
	$(BIN)/foodtrace demo

## Lint, type-check (mypy, strict: [tool.mypy] in pyproject.toml), then every test
## against the real PostgreSQL and Mosquitto on this machine.
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/python -m pytest -q

## The reliability tests of over two minutes each (marker `long`; RELIABILITY.md):
## Airflow's own retry of a SIGKILLed task, the messy day's pipeline faults.
test-long: $(STAMP)
	$(BIN)/python -m pytest -q -m long

lint: $(STAMP)
	$(BIN)/ruff check .

## Soak at the regional peak (not in CI): SOAK_ARGS="--minutes 30", or "--smoke".
## Needs the PostgreSQL and mosquitto of `make test`; writes bench/soak/out/.
soak: $(STAMP)
	$(BIN)/pip install --quiet -e ".[bench]"
	$(BIN)/python bench/soak/run.py $(SOAK_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache
