# Two commands: `make run` starts the local stack, `make test` checks everything. Both set up what they need.
PYTHON ?= python3
VENV := .venv
TOOLS := .venv-tools
PY := $(VENV)/bin/python
SAM := AWS_DEFAULT_REGION=us-east-1 SAM_CLI_TELEMETRY=0 $(TOOLS)/bin/sam
PIP_QUIET := --quiet --disable-pip-version-check

.PHONY: run test bench lint typecheck unit sam-validate sam-build setup clean

run: $(VENV)/.installed
	$(PY) -m devstack

test: lint typecheck unit sam-validate sam-build

setup: $(VENV)/.installed $(TOOLS)/.installed node_modules/.installed

$(VENV)/.installed: requirements-dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install $(PIP_QUIET) --upgrade pip
	$(PY) -m pip install $(PIP_QUIET) -r requirements-dev.txt
	$(PY) -m pip install $(PIP_QUIET) --no-deps -e .
	touch $@

$(TOOLS)/.installed: requirements-tools.txt
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install $(PIP_QUIET) --upgrade pip
	$(TOOLS)/bin/python -m pip install $(PIP_QUIET) -r requirements-tools.txt
	touch $@

# prism serves the vendors' OpenAPI descriptions as validating mocks for the contract tests.
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(VENV)/.installed
	$(VENV)/bin/mypy

unit: $(VENV)/.installed node_modules/.installed
	$(PY) -m pytest -n 2 -q

sam-validate: $(TOOLS)/.installed
	$(SAM) validate --lint

sam-build: $(TOOLS)/.installed
	$(SAM) build

bench: $(VENV)/.installed
	$(PY) -m tests.bench

clean:
	rm -rf $(VENV) $(TOOLS) .aws-sam .devstack node_modules
