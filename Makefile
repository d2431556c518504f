# The two commands a newcomer runs: `make run` and `make test`. Everything else is set up here.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
ECHARTS := gpu_insight/web/static/echarts.min.js
AXE := tests/web/static/axe.min.js

.PHONY: run test package lint typecheck format system-deps web clean

$(STAMP): pyproject.toml
	@py=$$(scripts/find-python.sh) || exit 1; \
	if [ ! -x $(PY) ]; then echo "creating $(VENV) with $$py"; $$py -m venv $(VENV) || exit 1; fi
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[collector,dev]'
	@touch $@

web: $(ECHARTS) $(AXE)

$(ECHARTS) $(AXE) &: package.json package-lock.json scripts/build-web.sh
	scripts/build-web.sh

system-deps:
	@scripts/install-system-deps.sh

run: $(STAMP) $(ECHARTS)
	@scripts/run-collector.sh

test: $(STAMP) $(ECHARTS) $(AXE) system-deps lint typecheck
	@$(PY) -m pytest; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests"; exit 0; fi; exit $$rc

package: $(STAMP) $(ECHARTS)
	$(PY) scripts/package_plugin.py

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

typecheck: $(STAMP)
	$(PY) -m mypy

format: $(STAMP)
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

clean:
	rm -rf $(VENV) dist node_modules $(ECHARTS) $(AXE) .pytest_cache .ruff_cache
