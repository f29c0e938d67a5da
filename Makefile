VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lint bench clean lock wheel-check

# The pinned versions first (requirements-dev.lock, `make lock` renews it), then the project
# itself, which adds only what the lock does not have yet.
$(STAMP): pyproject.toml requirements-dev.lock
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements-dev.lock
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

lock: $(STAMP)
	$(PY) -m pip install -q --dry-run --ignore-installed --report $(VENV)/lock-report.json '.[dev]'
	$(PY) tests/lock.py $(VENV)/lock-report.json requirements-dev.lock

wheel-check: $(STAMP)
	$(PY) tests/wheel_check.py

run: $(STAMP)
	$(VENV)/bin/detour serve

lint: $(STAMP)
	$(VENV)/bin/ruff check daemon tui tests bench
	$(VENV)/bin/ruff format --check daemon tui tests bench
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports --no-cache

test: lint
	# Three workers: the suite mostly waits on real servers and timeouts, not on the two cores.
	PYTHON_KEYRING_BACKEND=tests.memkeyring.MemoryKeyring $(VENV)/bin/pytest -q -p no:cacheprovider -n 3

bench: $(STAMP)
	$(PY) bench/overhead.py

clean:
	rm -rf $(VENV) build dist *.egg-info
