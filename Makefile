# Two commands for a newcomer: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

## run: classify samples/ with the built-in model, write predictions.csv
run: $(STAMP)
	$(BIN)/batchdigits classify samples --out predictions.csv; \
	  rc=$$?; [ $$rc -eq 0 ] || [ $$rc -eq 1 ] || exit $$rc

## test: run the whole test suite
test: $(STAMP)
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) predictions.csv
