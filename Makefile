# PlantGuard: `make run` serves the product with the demo plant; `make test` runs every check.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: run test lint typecheck unit bench clean i18n

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/plantguard run --simulate

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests bench scripts
	$(PY) scripts/i18n.py --check

typecheck: $(STAMP)
	$(VENV)/bin/mypy src/plantguard

# Two worker processes (the suite waits on servers and browsers as much as on CPU). worksteal: each
# worker starts on one half of the collection, in order, and an idle one takes tests from the end
# of the other's queue, so a module's server, browser or seeded database is mostly built once; the
# slowest files come first (SLOW_FIRST in tests/conftest.py) and are never the ones taken.
# Not loadfile/loadscope: they key tests by node id, and the schemathesis items share one, so all
# but one of them would silently not run.
unit: $(STAMP)
	$(VENV)/bin/pytest -n 2 --dist worksteal

test: lint typecheck unit

bench: $(STAMP)
	$(PY) bench/web.py

i18n: $(STAMP)
	$(PY) scripts/i18n.py

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
