"""The pipeline's container images, checked offline: images/images.yaml (the one source of their names), every
Dockerfile under images/ against hadolint and the project's rules (pinned bases, torch 2.14.1 with torchvision
0.29.1, a non-root user, the pipeline's code on PYTHONPATH, the right extras, no caches), their ignore files, and
the commands images/build.py runs."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from .test_serving_manifests import tool

ROOT = Path(__file__).resolve().parents[2]
IMAGES = ROOT / "images"
CONFIG = yaml.safe_load((IMAGES / "images.yaml").read_text())
STEPS = list(CONFIG["images"])
PIPELINE_STEPS = [step for step in STEPS if step != "serve"]  # serve is Triton's image: no KFP executor in it
# The extras each step's image installs (pyproject.toml); every pipeline step also needs `pipeline` (kfp).
EXTRAS = {"world": {"pipeline"}, "data": {"data", "pipeline"}, "distill": {"data", "pipeline"},
          "eval": {"eval", "pipeline"}, "export": {"export", "pipeline"}, "publish": {"export", "pipeline"},
          "smoke": {"export", "pipeline"}}
GPU = {"distill", "eval", "export", "serve"}
TORCH, TORCHVISION = "torch==2.14.1", "torchvision==0.29.1"


def instructions(step: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of a Dockerfile, continuation lines joined, comments dropped."""
    text = (ROOT / CONFIG["images"][step]["dockerfile"]).read_text()
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line.strip() else "")
            for line in joined.splitlines() if line.strip()]


def base_images(step: str) -> list[str]:
    """The external images of every FROM (stage aliases skipped), ARG defaults substituted."""
    args, stages, bases = {}, set(), []
    for op, rest in instructions(step):
        if op == "ARG" and "=" in rest:
            name, value = rest.split("=", 1)
            args.setdefault(name.strip(), value.strip())
        elif op == "FROM":
            words = [w for w in rest.split() if not w.startswith("--")]
            image = re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: args.get(m[1] or m[2], m[0]), words[0])
            if image not in stages:
                bases.append(image)
            if len(words) >= 3 and words[1].upper() == "AS":
                stages.add(words[2])
    return bases


def final_stage(step: str) -> list[tuple[str, str]]:
    ops = instructions(step)
    last = max(i for i, (op, _) in enumerate(ops) if op == "FROM")
    return ops[last:]


def test_images_yaml_names_every_step_and_its_dockerfile():
    assert set(CONFIG) == {"registry", "tag", "images"}
    assert CONFIG["registry"] == "ghcr.io/mcm-project" and str(CONFIG["tag"]) == "0.1.0"
    assert STEPS == ["world", "data", "distill", "eval", "export", "publish", "smoke", "serve"]
    for step, image in CONFIG["images"].items():
        assert image == {"name": f"mcm-{step}", "dockerfile": f"images/{step}/Dockerfile", "gpu": step in GPU}
        assert (ROOT / image["dockerfile"]).is_file()
    # no Dockerfile that images.yaml does not build
    found = {str(path.relative_to(ROOT)) for path in IMAGES.rglob("Dockerfile")}
    assert found == {image["dockerfile"] for image in CONFIG["images"].values()}


def test_every_dockerfile_passes_hadolint():
    dockerfiles = [CONFIG["images"][step]["dockerfile"] for step in STEPS]
    result = subprocess.run([tool("hadolint"), *dockerfiles], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("step", STEPS)
def test_base_images_are_pinned(step):
    bases = base_images(step)
    assert bases, f"{step}: no FROM"
    for image in bases:
        name, _, tag = image.rpartition(":") if ":" in image.split("/")[-1] else (image, "", "")
        assert tag and tag != "latest" and "$" not in image, f"{step}: base {image!r} is not pinned to a tag"
    if step == "serve":
        assert bases == ["nvcr.io/nvidia/tritonserver:25.01-py3"]
    elif step in GPU:
        assert set(bases) == {"nvidia/cuda:12.8.1-runtime-ubuntu24.04"}, bases
    else:
        assert set(bases) == {"python:3.11.14-slim-bookworm"}, bases


@pytest.mark.parametrize("step", STEPS)
def test_torch_and_torchvision_are_pinned_together(step):
    ops = instructions(step)
    torch_lines = [rest for op, rest in ops if op == "RUN" and re.search(r"\bpip3? install\b.*\btorch", rest)]
    assert torch_lines, f"{step}: torch is never installed"
    for line in torch_lines:  # both pins on every pip line that installs them, and no other version anywhere
        assert TORCH in line.split() and TORCHVISION in line.split(), line
    text = (ROOT / CONFIG["images"][step]["dockerfile"]).read_text()
    assert set(re.findall(r"\btorch(?:vision)?[=<>~!]=?[\w.*]+", text)) == {TORCH, TORCHVISION}
    if step != "serve":  # the first install takes them from the PyTorch index of the image's kind
        index = "https://download.pytorch.org/whl/" + ("cu128" if step in GPU else "cpu")
        assert ("ARG", f"TORCH_INDEX_URL={index}") in ops
        assert '--index-url "$TORCH_INDEX_URL"' in torch_lines[0]


@pytest.mark.parametrize("step", STEPS)
def test_runs_as_a_non_root_user_without_caches(step):
    users = [rest.split(":")[0].strip() for op, rest in final_stage(step) if op == "USER"]
    assert users and users[-1] not in ("root", "0"), f"{step}: the final stage runs as {users[-1:] or 'root'}"
    for op, rest in instructions(step):
        if op == "RUN" and re.search(r"\bpip3? install\b", rest):
            assert "--no-cache-dir" in rest, f"{step}: pip leaves its cache: {rest}"
        if op == "RUN" and "apt-get install" in rest:
            assert "rm -rf /var/lib/apt/lists/*" in rest and "--no-install-recommends" in rest, rest


@pytest.mark.parametrize("step", PIPELINE_STEPS)
def test_step_images_carry_the_pipeline_code_and_their_extras(step):
    final = final_stage(step)
    copies = {tuple(rest.split()) for op, rest in final if op == "COPY"}
    assert ("components", "/opt/mcm/components") in copies and ("pipelines", "/opt/mcm/pipelines") in copies
    assert ("images/images.yaml", "/opt/mcm/images/images.yaml") in copies  # components/images.py reads it
    assert ("params.yaml", "/opt/mcm/params.yaml") in copies and ("assets", "/opt/mcm/assets") in copies
    assert ("--from=builder", "/opt/venv", "/opt/venv") in copies  # built in the builder stage, copied
    env = " ".join(rest for op, rest in final if op == "ENV")
    assert "PYTHONPATH=/opt/mcm" in env.split() and "PATH=/opt/venv/bin:$PATH" in env.split()
    runs = " ".join(rest for op, rest in final if op == "RUN")  # the KFP launcher's artifact roots, writable
    assert "mkdir /gcs /minio /s3" in runs and "chown mcm:mcm /gcs /minio /s3" in runs
    assert ("WORKDIR", "/opt/mcm") in final and ("USER", "1000:1000") in final
    text = (ROOT / CONFIG["images"][step]["dockerfile"]).read_text()
    extras = set(re.search(r'"/src\[([^\]$]*)', text)[1].split(",")) if '"/src[$extras]"' not in text else set(
        re.search(r'extras="([^"]+)"', text)[1].split(","))
    assert extras == EXTRAS[step], f"{step}: installs the extras {sorted(extras)}"
    assert ("tensorrt" in text) == (step == "export")  # the optional extra, CUDA only


def test_export_image_takes_tensorrt_as_a_build_arg():
    ops = instructions("export")
    assert ("ARG", "TENSORRT=0") in ops
    run = next(rest for op, rest in ops if op == "RUN" and "$TENSORRT" in rest)
    assert '"$TENSORRT" = "1"' in run and 'extras="$extras,tensorrt"' in run and '"/src[$extras]"' in run


@pytest.mark.parametrize("step", STEPS)
def test_ignore_file_sends_what_the_image_copies(step):
    """BuildKit reads <Dockerfile>.dockerignore beside the Dockerfile: everything ignored but what COPY needs."""
    ignore = (ROOT / CONFIG["images"][step]["dockerfile"]).with_name("Dockerfile.dockerignore")
    patterns = [line for line in ignore.read_text().splitlines() if line and not line.startswith("#")]
    assert patterns[0] == "*"
    allowed = {line[1:].rstrip("/") for line in patterns if line.startswith("!")}
    for op, rest in instructions(step):
        if op == "COPY" and not rest.startswith("--from"):
            for source in rest.split()[:-1]:
                assert source in allowed, f"{step}: COPY {source} is excluded by {ignore.name}"


def build_py(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in ("MCM_IMAGE_REGISTRY", "MCM_IMAGE_TAG")}
    return subprocess.run([sys.executable, str(IMAGES / "build.py"), *args], capture_output=True, text=True,
                          env={**clean, **(env or {})}, cwd=ROOT)


def test_build_dry_run_prints_a_build_and_a_push_per_image():
    result = build_py("--dry-run", "--registry", "r.example", "--tag", "t1", "--push")
    assert result.returncode == 0, result.stderr
    expected = []
    for image in CONFIG["images"].values():
        ref = f"r.example/{image['name']}:t1"
        expected += [f"docker build -f {image['dockerfile']} -t {ref} .", f"docker push {ref}"]
    assert result.stdout.splitlines() == expected


def test_build_registry_and_tag_precedence():
    """Arguments, then MCM_IMAGE_REGISTRY / MCM_IMAGE_TAG, then images.yaml; empty (make's REGISTRY=) is unset."""
    env = {"MCM_IMAGE_REGISTRY": "env.example", "MCM_IMAGE_TAG": "t-env"}
    makefile_form = build_py("--registry", "--tag", "--push", "--dry-run", "--only", "world", env=env)
    assert makefile_form.stdout.split() == ["docker", "build", "-f", "images/world/Dockerfile", "-t",
                                            "env.example/mcm-world:t-env", ".", "docker", "push",
                                            "env.example/mcm-world:t-env"]
    assert "-t ghcr.io/mcm-project/mcm-eval:0.1.0 " in build_py("--dry-run", "--only", "eval", "--tag=").stdout
    assert "-t a.example/mcm-eval:t-env " in build_py("--dry-run", "--only", "eval", "--registry", "a.example",
                                                      env=env).stdout
    trt = build_py("--dry-run", "--only", "export", "--build-arg", "TENSORRT=1").stdout
    assert trt.strip() == ("docker build -f images/export/Dockerfile -t ghcr.io/mcm-project/mcm-export:0.1.0 "
                           "--build-arg TENSORRT=1 .")
    unknown = build_py("--dry-run", "--only", "world,nope")
    assert unknown.returncode == 2 and "nope" in unknown.stderr and "serve" in unknown.stderr


def test_make_images_dry_run_prints_what_build_py_would_run():
    """The Makefile target users type: `make images REGISTRY=... TAG=... DRY_RUN=1` prints, builds nothing."""
    clean = {k: v for k, v in os.environ.items() if k not in ("MCM_IMAGE_REGISTRY", "MCM_IMAGE_TAG", "MAKEFLAGS")}
    result = subprocess.run(["make", "-s", "images", "REGISTRY=r.example", "TAG=t2", "DRY_RUN=1",
                             f"PYTHON={sys.executable}", "VENV=/nonexistent-venv"], capture_output=True, text=True,
                            env=clean, cwd=ROOT, timeout=60)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines == build_py("--dry-run", "--registry", "r.example", "--tag", "t2", "--push").stdout.splitlines()
    assert len(lines) == 2 * len(CONFIG["images"]) and all("r.example/" in x and ":t2" in x for x in lines)
