# Two commands: `make run` starts the whole system on the embedded defaults; `make test` runs every test.
PYTHON ?= python3
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: run test tools lint bench env clean

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet uv==$(UV_VERSION)

$(VENV)/.synced: $(UV) uv.lock pyproject.toml */pyproject.toml libs/*/pyproject.toml
	$(UV) sync --frozen --python $(PYTHON)
	touch $@

env: $(VENV)/.synced  ## create or update the pinned Python environment

run: env  ## start PostgreSQL, Tansu, the five services and the gateway; Ctrl-C stops everything
	$(VENV)/bin/python -m devstack up

test: env tools  ## every test, on an embedded PostgreSQL and broker started by the harness
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS)

# Prometheus and promtool from Debian's package: the monitoring tests run the deployment's rules in them.
tools:
	@command -v promtool >/dev/null && command -v prometheus >/dev/null || { \
		echo "installing Debian's prometheus package (promtool and the server, for tests/test_monitoring.py)"; \
		apt-get update -qq && apt-get install -y -qq --no-install-recommends prometheus >/dev/null; }

# Test folders each have a conftest.py, which one mypy run would take for one module: checked one by one.
TYPED_TESTS := tests bench libs/servicekit/tests contracts/tests gateway/tests $(wildcard svc-*/tests)

lint: env  ## ruff (lint and formatting), mypy and shellcheck over the whole tree; CI runs it before the tests
	$(VENV)/bin/ruff check .
	$(VENV)/bin/shellcheck $(shell find deploy -name '*.sh')
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/python -m mypy
	@for folder in $(TYPED_TESTS); do echo "mypy $$folder"; $(VENV)/bin/python -m mypy $$folder || exit 1; done

bench: env  ## every benchmark (not tests), then one table of each figure against its floor; BENCH_ARGS=--quick
	@command -v wrk >/dev/null || { echo "installing wrk (the HTTP load generator of three benchmarks)"; \
		apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
	$(VENV)/bin/python -m bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) $(TOOLS) .pytest_cache .mypy_cache .ruff_cache
