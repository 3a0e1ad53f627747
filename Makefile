# Two commands do all the set-up on a fresh machine:
#   make pipeline-run   the main job (locally on the small video world without a cluster)
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
# The run folder of the embedded default: run.dir of params.yaml (the one source of the pipeline's configuration).
RUN_DIR := $(shell sed -n '/^run:/,/^[^ ]/s/^  dir: *\([^ #]*\).*/\1/p' params.yaml)
# Threads of the local pipeline's torch work (all cores); the test suite keeps one.
PIPELINE_THREADS ?= $(shell nproc 2>/dev/null || echo 2)
export OMP_NUM_THREADS ?= 1
MCM := $(VENV)/bin/mcm
PARAMS := --config params.yaml

.PHONY: venv serve-venv test test-fast pipeline-run pipeline-compile images reproduce-toy serve bench toy-assets clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q $(TORCH_PINS) -e ".[$(EXTRAS)]" $(QUIET_PIP)
	$(PY) -c "import torch, torchvision, diffusers, peft, accelerate"
	touch $(STAMP)

# The serving environment: nvidia-pytriton (its tritonserver binary with the Python backend) pins numpy below 2,
# which mcm's data stack cannot use, so the server runs from its own venv; its models borrow torch, onnxruntime
# and transformers from $(VENV) (mcm.serve.server). Same interpreter as $(VENV) (the backend stub links it).
SERVE_VENV ?= $(VENV)-serve
# Passed to tests and pipeline steps as an absolute path: they run in other working directories (kfp.local).
SERVE_STAMP := $(SERVE_VENV)/.mcm-serve-deps-1
PYTRITON_PINS := nvidia-pytriton==0.7.0 "numpy<2"
$(SERVE_STAMP):
	test -x $(SERVE_VENV)/bin/python || $(PYTHON) -m venv $(SERVE_VENV)
	$(SERVE_VENV)/bin/pip install -q $(PYTRITON_PINS) $(QUIET_PIP)
	touch $(SERVE_STAMP)

serve-venv: $(SERVE_STAMP)

venv: $(STAMP)
	@# The editable install points at this checkout (a cached venv may come from another clone).
	$(PY) -m pip install -q --no-deps -e . $(QUIET_PIP)

# Two lanes on two workers (conftest.py: tests in their own temporary folders in one, the rest in the other).
TEST_WORKERS ?= 2
test: venv serve-venv
	MCM_SERVE_VENV=$(abspath $(SERVE_VENV)) $(PY) -m pytest -q -n $(TEST_WORKERS)

test-fast: venv
	$(PY) -m pytest -q -m "not slow"

# The Kubeflow pipeline (pipelines/mcm_pipeline.py; one component per step under components/), configured by
# params.yaml. Without KFP_HOST it runs every step locally with kfp.local (no cluster, no Docker): write the small
# world, prepare V in shard groups and join them, filter M, distill a full-MCM student from the shipped teacher
# (resumable, in $(RUN_DIR)), evaluate it at 1/2/4/8 steps against the teacher's DDIM and DPM++ on the seen and the
# held-out prompts, export it (diffusers + ONNX), publish the Triton model repository and smoke-test it on a local
# Triton server. With KFP_HOST set (and optionally KFP_TOKEN, KFP_NAMESPACE) it compiles the pipeline and submits a
# run to that Kubeflow Pipelines endpoint, printing the run's URL.
pipeline-run: venv $(if $(KFP_HOST),,serve-venv)
	MCM_SERVE_VENV=$(abspath $(SERVE_VENV)) OMP_NUM_THREADS=$(PIPELINE_THREADS) $(PY) -m pipelines.run

# The pipeline's YAML for the Kubeflow UI (Pipelines > Upload pipeline), for the cluster in params.yaml's cluster.
PIPELINE_YAML ?= build/mcm-pipeline.yaml
pipeline-compile: venv
	$(PY) -m pipelines.run --compile $(PIPELINE_YAML)

# Build (and push) every step's image from images/images.yaml: make images REGISTRY=ghcr.io/me TAG=0.1.0;
# DRY_RUN=1 prints the docker commands instead. The components reference the same registry and tag.
REGISTRY ?=
TAG ?=
images:
	$(if $(wildcard $(PY)),$(PY),$(PYTHON)) images/build.py --registry "$(REGISTRY)" --tag "$(TAG)" --push $(if $(DRY_RUN),--dry-run)

# The paper's tables in miniature (mcm/reproduce/presets/toy.yaml): every row x seed distilled from the shipped
# teacher and evaluated on the committed prompt sets; finished runs are reused by key (docs/results/toy/runs),
# a killed reproduction resumes. QUICK=1: a smoke run (fewer updates, one seed) into runs/reproduce-quick.
# The world and its prepared data are made first when missing (the same verbs as pipeline-run, + the styled set).
REPRODUCE_JOBS ?= $(PIPELINE_THREADS)
reproduce-toy: venv
	@test -f data/world/world.json || { echo "== world -> data/world"; OMP_NUM_THREADS=$(PIPELINE_THREADS) $(MCM) world $(PARAMS) --section world; }
	@test -f data/prepared/videos/manifest.json || OMP_NUM_THREADS=$(PIPELINE_THREADS) $(MCM) data videos $(PARAMS) --section data_videos
	@test -f data/prepared/images/manifest.json || OMP_NUM_THREADS=$(PIPELINE_THREADS) $(MCM) data images $(PARAMS) --section data_images
	@test -f data/prepared/styled/manifest.json || OMP_NUM_THREADS=$(PIPELINE_THREADS) $(MCM) data images $(PARAMS) --section data_styled
	$(MCM) reproduce --config toy --jobs $(REPRODUCE_JOBS) $(if $(QUICK),--quick)

# Train the small world's networks (teacher, VAE, text encoder, discriminator backbone, evaluation networks)
# into assets/toy from fixed seeds; resumable (a complete part is kept; the teacher resumes from its last
# checkpoint). Deterministic for a given TOY_THREADS. Shipped in the repository: only needed to reproduce them.
TOY_THREADS ?= 1
toy-assets: venv
	OMP_NUM_THREADS=$(TOY_THREADS) $(VENV)/bin/mcm world assets --out assets/toy --set threads=$(TOY_THREADS)

# Serve the newest run (runs/LATEST, e.g. make pipeline-run's student) on localhost with a real Triton server:
# export it (diffusers format + ONNX parts), generate the model repository, start tritonserver from $(SERVE_VENV).
SERVE_PORT ?= 8000
SERVE_BACKEND ?= python
serve: venv serve-venv
	@test -e runs/LATEST || { echo "no runs/LATEST: run make pipeline-run (or mcm distill) first"; exit 2; }
	$(MCM) export --checkpoint runs/LATEST --out exports/LATEST
	$(MCM) serve repository --export exports/LATEST --out serving/repository --backend $(SERVE_BACKEND)
	$(MCM) serve start --repository serving/repository --venv $(SERVE_VENV) --port $(SERVE_PORT)

bench: venv
	$(PY) bench/train_step.py --quick

clean:
	rm -rf runs .pytest_cache
