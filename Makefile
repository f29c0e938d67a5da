VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lint bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/detour serve

lint: $(STAMP)
	$(VENV)/bin/ruff check daemon tui tests bench
	$(VENV)/bin/ruff format --check daemon tui tests bench
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports --no-cache

test: lint
	PYTHON_KEYRING_BACKEND=tests.memkeyring.MemoryKeyring $(VENV)/bin/pytest -q -p no:cacheprovider

bench: $(STAMP)
	$(PY) bench/overhead.py

clean:
	rm -rf $(VENV) build dist *.egg-info
