# HugMood developer commands. Everything runs from .venv, which the first target that needs it creates.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# The lock files pin every package with its hashes; `make lock` refreshes them from pyproject.toml.
LOCK := requirements-dev.lock
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml $(LOCK) | cksum | cut -d' ' -f1)
PIP_COMPILE := $(VENV)/bin/pip-compile --quiet --strip-extras --generate-hashes --allow-unsafe \
	--no-emit-index-url --no-emit-find-links

.PHONY: run test lint fmt openapi fuzz migrate bench bench-gateway bench-mood bench-notify bench-analytics bench-graphql chaos install lock clean

$(STAMP): pyproject.toml $(LOCK)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --require-hashes -r $(LOCK)
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	rm -f $(VENV)/.installed-* && touch $@

install: $(STAMP)

run: $(STAMP) ## the whole fleet on embedded PostgreSQL and Redis (unless DATABASE_URL/REDIS_URL are set)
	$(PY) scripts/run.py

test: $(STAMP) ## the whole suite (TEST_DATABASE_URL/TEST_REDIS_URL, else embedded servers)
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

fmt: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

openapi: $(STAMP) ## regenerate gateway/openapi.json, the published API document, from the code
	$(PY) scripts/openapi.py

fuzz: $(STAMP) ## schemathesis over every operation through the gateway, at full size (CI runs it small)
	FUZZ_EXAMPLES=100 FUZZ_STATEFUL_EXAMPLES=50 FUZZ_STATEFUL_STEPS=20 FUZZ_RANDOM=1 \
		$(PY) -m pytest tests/e2e/test_fuzz.py -q -s --timeout 1800 $(PYTEST_ARGS)

migrate: $(STAMP) ## apply every service's migrations to DATABASE_URL
	$(PY) -m shared.migrate upgrade

bench: bench-gateway bench-mood bench-notify bench-analytics bench-graphql ## every benchmark (see docs/benchmarks.md)

bench-gateway: $(STAMP) ## the gateway against direct calls and nginx
	$(PY) bench/gateway.py

bench-mood: $(STAMP) ## per-user mood analytics at 3M rows, with and without the index
	$(PY) bench/mood.py

bench-analytics: $(STAMP) ## correlations and patterns through the gateway, the insight task's CPU (3 years, 20 tags)
	$(PY) bench/analytics.py

bench-notify: $(STAMP) ## hug-to-poll delivery latency; 10,000 held long polls against Nchan
	$(PY) bench/notifications.py

bench-graphql: $(STAMP) ## the received-hugs screen: one GraphQL query against REST 1 + 20 and 1 + 1
	$(PY) bench/graphql.py

chaos: $(STAMP) ## the reliability (kill, hang) tests at the issue's full size; CI runs them smaller
	CHAOS_HUGS=2000 CHAOS_POLLERS=100 CHAOS_POLL_NOTIFICATIONS=1000 CHAOS_REDIS_DOWN_SECONDS=30 \
	CHAOS_FAULT_PHASE_SECONDS=60 CHAOS_P99_RATIO=1.2 \
		$(PY) -m pytest tests/e2e/test_reliability.py tests/e2e/test_faults.py -v -s $(PYTEST_ARGS)

lock: $(STAMP) ## re-resolve pyproject.toml's ranges into the lock files (then commit them)
	$(PIP_COMPILE) --extra test --extra embedded --extra dev --upgrade -o requirements-dev.lock pyproject.toml
	$(PIP_COMPILE) -c requirements-dev.lock -o requirements.lock pyproject.toml

clean:
	rm -rf $(VENV) .data .pytest_cache
