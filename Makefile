# The two commands a newcomer needs: `make demo` and `make test`.
VENV    ?= .venv
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: test demo lint typecheck bench services venv clean

$(STAMP): pyproject.toml
	@command -v python3 >/dev/null || { echo "python3 (>= 3.11) is required"; exit 2; }
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -qq --upgrade pip
	@echo "installing agentconsole and its test tools into $(VENV) (a minute the first time)"
	$(PY) -m pip install -qq -e '.[test]'
	@touch $(STAMP)

venv: $(STAMP)

# Debian's redis-server and prometheus, installed only when missing.
services:
	@./scripts/ensure-services.sh

test: venv services
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports
	$(MAKE) --no-print-directory typecheck
	$(PY) -m pytest $(PYTEST_ARGS)

demo: venv services
	$(VENV)/bin/agentconsole demo

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports
	$(MAKE) --no-print-directory typecheck

# mypy over the modules the rest build on (settings in pyproject's [tool.mypy])
typecheck: venv
	$(VENV)/bin/mypy agentconsole/control agentconsole/agent agentconsole/metrics agentconsole/tui agentconsole/text.py

bench: venv services
	@for b in bench/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
