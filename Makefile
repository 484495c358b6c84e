# Two commands: `make run` starts the whole system on the embedded defaults; `make test` runs every test.
PYTHON ?= python3
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: run test tools lint bench env console clean

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet uv==$(UV_VERSION)

$(VENV)/.synced: $(UV) uv.lock pyproject.toml */pyproject.toml libs/*/pyproject.toml
	$(UV) sync --frozen --python $(PYTHON)
	touch $@

env: $(VENV)/.synced  ## create or update the pinned Python environment

# The staff console (console/): Vue 3 + Element Plus, built by Vite with the machine's Node.js and npm into
# console/dist, which the gateway serves under /console/. Rebuilt only when its sources change.
CONSOLE_SOURCES := $(shell find console/src -type f) console/index.html console/vite.config.ts console/tsconfig.json

console/node_modules/.installed: console/package-lock.json
	cd console && npm ci --no-audit --no-fund --loglevel=error
	touch $@

console/dist/index.html: console/node_modules/.installed $(CONSOLE_SOURCES)
	cd console && npm run --silent build

console: console/dist/index.html  ## build the staff console

run: env console  ## start PostgreSQL, Tansu, the five services and the gateway; Ctrl-C stops everything
	$(VENV)/bin/python -m devstack up

test: env tools console  ## every test, on an embedded PostgreSQL and broker started by the harness
	cd console && npx vitest run --silent
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS)

# From Debian's packages: Prometheus and promtool (the monitoring tests run the deployment's rules in them),
# Chromium and a Chinese font (the console's browser tests drive it with Playwright and keep screenshots).
TOOL_PACKAGES := prometheus chromium fonts-wqy-microhei
tools:
	@command -v promtool >/dev/null && command -v prometheus >/dev/null && command -v chromium >/dev/null \
		&& [ -f /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ] || { \
		echo "installing Debian's $(TOOL_PACKAGES) (for the monitoring and browser tests)"; \
		apt-get update -qq && apt-get install -y -qq --no-install-recommends $(TOOL_PACKAGES) >/dev/null; }

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

sim: env  ## the rescue simulation: dispatch policies compared (table; PNGs in .data/artefacts/sim), then where the next AEDs and responders help most
	$(VENV)/bin/python -m sim compare $(SIM_ARGS)
	$(VENV)/bin/python -m sim plan --top 3

clean:
	rm -rf $(VENV) $(TOOLS) .pytest_cache .mypy_cache .ruff_cache console/node_modules console/dist
