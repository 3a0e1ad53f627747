# Two commands do all the set-up on a fresh machine:
#   make pipeline-run   the main job (locally on the tiny preset without a cluster)
#   make test           the test suite (what CI runs)
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
# This machine's pip configuration names index folders that may be absent: drop those warnings.
QUIET_PIP := 2>&1 | { grep -v "^WARNING: Location" || true; }
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# torch and torchvision are pinned together everywhere they are installed.
TORCH_PINS := torch==2.14.1 torchvision==0.29.1
EXTRAS := data,eval,export,pipeline,dev
STAMP := $(VENV)/.mcm-deps-$(shell cat pyproject.toml | sha256sum | cut -c1-12)
RUN_DIR ?= runs/pipeline-tiny
export OMP_NUM_THREADS ?= 1

.PHONY: venv test test-fast pipeline-run bench toy-assets clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q $(TORCH_PINS) -e ".[$(EXTRAS)]" $(QUIET_PIP)
	$(PY) -c "import torch, torchvision, diffusers, peft, accelerate"
	touch $(STAMP)

venv: $(STAMP)
	@# The editable install points at this checkout (a cached venv may come from another clone).
	$(PY) -m pip install -q --no-deps -e . $(QUIET_PIP)

test: venv
	$(PY) -m pytest -q

test-fast: venv
	$(PY) -m pytest -q -m "not slow"

# Until the Kubeflow pipeline exists: distill on the tiny preset, then sample a video from the student.
pipeline-run: venv
	$(VENV)/bin/mcm distill --config tiny --output $(RUN_DIR) --resume
	$(VENV)/bin/mcm sample --checkpoint $(RUN_DIR) --prompt "a red ball moving left" --steps 4 --out $(RUN_DIR)/sample.mp4
	@echo "video: $(RUN_DIR)/sample.mp4; report: $(RUN_DIR)/report.html"

# Train the small world's networks (teacher, VAE, text encoder, discriminator backbone, evaluation networks)
# into assets/toy from fixed seeds; resumable (a complete part is kept; the teacher resumes from its last
# checkpoint). Deterministic for a given TOY_THREADS. Shipped in the repository: only needed to reproduce them.
TOY_THREADS ?= 1
toy-assets: venv
	OMP_NUM_THREADS=$(TOY_THREADS) $(VENV)/bin/mcm world assets --out assets/toy --set threads=$(TOY_THREADS)

bench: venv
	$(PY) bench/train_step.py --quick

clean:
	rm -rf runs .pytest_cache
