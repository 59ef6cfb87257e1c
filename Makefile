# mmdata — `make demo` runs the main job on the embedded default; `make test` runs the test suite.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/pip install -q -c constraints.txt
LOCK := requirements.lock
STAMP := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export HF_DATASETS_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: install demo test lint lock clean browser

# Everything comes from the lock file, exact versions, no resolver at install time (--no-deps).
$(STAMP): pyproject.toml constraints.txt $(LOCK)
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(PIP) --no-deps -r $(LOCK)
	$(PIP) --no-deps --no-build-isolation -e .
	@$(BIN)/python -c "import importlib.util,sys; sys.exit(importlib.util.find_spec('torchvision') is not None)" \
	  || (echo "torchvision got installed: it breaks transformers here" && exit 1)
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/mmdata demo

test: $(STAMP) browser
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .

# Regenerate the lock from pyproject.toml with pip-tools, kept in its own venv (.venv-lock) so it never
# enters the project's environment. Existing pins are kept unless pyproject.toml needs new ones
# (`make lock UPGRADE=1` moves everything to the newest allowed). lmms-eval is pinned after it: it is
# installed without its declared dependencies (they pull a CUDA-only torchvision); the `lmms` extra
# lists what it needs.
lock:
	test -x .venv-lock/bin/pip-compile || ($(PY) -m venv .venv-lock && .venv-lock/bin/pip install -q "pip-tools==7.6.2")
	grep -v '^lmms-eval==' $(LOCK) > $(LOCK).tmp && mv $(LOCK).tmp $(LOCK)
	.venv-lock/bin/pip-compile --quiet $(if $(UPGRADE),--upgrade,) --extra dev --extra ray --extra lmms --strip-extras \
	  --allow-unsafe --no-emit-index-url --no-emit-find-links -c constraints.txt -o $(LOCK) pyproject.toml
	echo "lmms-eval==0.7.3" >> $(LOCK)

# Headless Chromium for the leaderboard HTML test (tests/bench/test_leaderboard_browser.py).
browser:
	@if command -v chromium >/dev/null 2>&1 || test -x /usr/bin/chromium; then :; \
	elif [ "$$(id -u)" = 0 ]; then apt-get update && apt-get install -y --no-install-recommends chromium; \
	else echo "chromium is missing; run as root: apt-get update && apt-get install -y --no-install-recommends chromium"; \
	  echo "(or set MMDATA_SKIP_BROWSER=1 to skip the leaderboard browser test)"; fi

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
