"""Every `mcm` command of the README runs as written, or fails with one line naming what is missing.

The commands run in the README's order, in-process (``mcm.cli.main.main``), in a fresh workspace holding the
shipped assets and the repository's ``params.yaml`` shrunk in size only (fewer world items, 2 distillation
updates, 3 evaluation samplers): the command lines themselves are the README's, character for character.

* Commands that need no GPU, hub or user data must exit 0.
* Commands that name a real teacher (``modelscope``, ``animatediff``) or the real-data examples
  (``examples/``) may fail offline, but only with exit status 2 and a one-line error that names what is missing
  (a teacher's weights, an input file), never a traceback.
* ``mcm generate`` needs a running server (tests/serve starts one): here, with none, it must fail in one line
  that says how to start one.
* ``make``, ``python bench/``, ``torchrun`` and ``dvc`` lines are not run here (the Makefile targets and the
  benchmarks are run by CI and by hand; torchrun needs GPUs).
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
NOT_RUN = ("make ", "python bench/", "torchrun ", "dvc ")
NEEDS_REAL = re.compile(r"\b(modelscope|animatediff)\b|examples/")
MISSING = re.compile(r"neither a local folder nor reachable|not found|no such file|cannot reach the server", re.I)
# `mcm generate` needs a running server (tests/serve starts a real one): here it must fail in one line.
NEEDS_SERVER = re.compile(r"^mcm generate\b")


def readme_commands(text: str) -> list[str]:
    """The command lines of the README's bash blocks (continuations joined, comments dropped)."""
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        joined = re.sub(r"\\\n\s*", " ", block)
        for line in joined.splitlines():
            words = shlex.split(line, comments=True)
            if words:
                commands.append(shlex.join(words))
    return commands


def shrink_params(params: dict) -> dict:
    """The repository's params.yaml with smaller sizes only (the same sections, paths and presets)."""
    params["world"].update(num_videos=48, num_images=48, num_styled=8, prompts_per_set=4)
    d = params["distill"]
    d.setdefault("optim", {}).update(max_steps=2, warmup_steps=0, global_batch=2)
    d.setdefault("data", {}).update(batch_size=2)
    d.setdefault("train", {}).update(validate_every=0, checkpoint_every=2)
    small = [{"method": "MCM (ours)", "steps": s, "generator": {"checkpoint": "runs/LATEST"}} for s in (1, 2)]
    small.append({"method": "DDIM", "steps": 2, "generator": {"teacher": "toy", "scheduler": "ddim", "guidance": 3.0}})
    for name in ("eval", "eval_zero_shot"):
        params[name].update(methods=small, grid_prompts=2)
    params["report"]["speed"].update(rounds=1, teacher_steps=4)
    return params


def test_readme_command_parser():
    text = "```bash\nmcm a --x 1   # note\nmcm b \\\n   --y 'two words'\n```\n```python\nnot this\n```"
    assert readme_commands(text) == ["mcm a --x 1", "mcm b --y 'two words'"]


@pytest.mark.slow
def test_readme_commands_run_as_written(tmp_path, monkeypatch, capfd):
    from mcm.cli.main import main

    commands = readme_commands((REPO / "README.md").read_text())
    runnable = [c for c in commands if c.startswith("mcm ")]
    assert len(runnable) >= 10, commands
    assert all(c.startswith(("mcm ", *NOT_RUN)) for c in commands), [c for c in commands if not c.startswith("mcm ")]
    (tmp_path / "assets").symlink_to(REPO / "assets")
    (tmp_path / "examples").symlink_to(REPO / "examples")
    params = shrink_params(yaml.safe_load((REPO / "params.yaml").read_text()))
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    failures = []
    for command in runnable:
        capfd.readouterr()
        rc = main(shlex.split(command)[1:])
        err = capfd.readouterr().err
        if rc == 0:
            continue
        lines = [ln for ln in err.splitlines() if ln.startswith("mcm ")]
        one_line = rc == 2 and "Traceback" not in err and len(lines) == 1 and MISSING.search(lines[0])
        if not ((NEEDS_REAL.search(command) or NEEDS_SERVER.search(command)) and one_line):
            failures.append(f"{command}\n  exit {rc}: {err.strip()[-600:]}")
    assert not failures, "\n".join(failures)
    assert (Path("runs") / Path("runs/LATEST").read_text().strip()).is_dir()  # the newest run of the README
    page = Path("runs/toy/index.html").read_text()
    assert "Teacher and student, same prompts and seeds" in page and "x faster" in page
    # 2 grid prompts x the overview's columns present in the shrunk evaluation (the student at 1 and 2 steps)
    assert page.count("<img src='eval/seen/grid/") == page.count("<img src='eval/zero_shot/grid/") == 2 * 2
    assert "zero-shot prompts (held out)" in page and "used only for evaluation" in page
    assert Path("circle.mp4").stat().st_size > 0 and Path("teacher.mp4").stat().st_size > 0
