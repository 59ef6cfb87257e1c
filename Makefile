# mmdata — `make demo` runs the main job on the embedded default; `make test` runs the test suite.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/pip install -q -c constraints.txt
STAMP := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export HF_DATASETS_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: install demo test lint clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(PIP) torch==2.13.0
	$(PIP) -e ".[dev,ray]"
	@$(BIN)/python -c "import importlib.util,sys; sys.exit(importlib.util.find_spec('torchvision') is not None)" \
	  || (echo "torchvision got installed: it breaks transformers here" && exit 1)
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/mmdata demo

test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
