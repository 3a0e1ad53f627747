"""The reproduction's run cache and resume, with a command runner that stands in for `mcm distill` / `mcm eval`.

The runner writes what the verbs would (a run folder with final/, a metrics.json with one result per method
spec) and records every command, so the tests count what the orchestration re-executes.
"""

import _thread
import json
import re
import signal
import threading
import time
from pathlib import Path

import pytest
import yaml

from mcm.reproduce.config import load_reproduce_config
from mcm.reproduce.report import write_results
from mcm.reproduce.results import build_results
from mcm.reproduce.runner import Executor, Planner, run_all

ROW_FVD = {"lcm": 100.0, "mcm": 80.0}  # the fake's FVD per row (MCM better by 20, plus a seed effect)


class FakeVerbs:
    """A CommandRunner: distill makes OUT/checkpoints and OUT/final; eval writes OUT/metrics.json."""

    def __init__(self, kill_at: int | None = None):
        self.calls: list[list[str]] = []
        self.kill_at = kill_at
        self.release = threading.Event()

    def __call__(self, argv, log_file, env):
        self.calls.append(argv)
        verb = argv[3]
        if verb == "distill":
            out = Path(argv[argv.index("--output") + 1])
            (out / "checkpoints" / "checkpoint-00000002").mkdir(parents=True, exist_ok=True)
            if self.kill_at is not None and len(self.calls) == self.kill_at:
                _thread.interrupt_main()  # the reproduction is killed while this distillation runs
                self.release.wait(10)
                return -15
            (out / "final").mkdir(exist_ok=True)
            return 0
        out = Path(argv[argv.index("--out") + 1])
        methods = yaml.safe_load(next(a for a in argv if a.startswith("methods="))[len("methods="):])
        results = []
        for m in methods:
            path = m["generator"].get("checkpoint", "")
            match = re.search(r"/(\w+)/seed(\d+)-", path)
            row, seed = (match[1], int(match[2])) if match else ("teacher", 0)
            fvd = ROW_FVD.get(row, 150.0) + 3.0 * seed - m["steps"]
            results.append({"method": m["method"], "steps": m["steps"], "metrics": {"fvd_toy": fvd},
                            "num_videos": 2, "grid_files": []})
        out.mkdir(parents=True, exist_ok=True)
        (out / "metrics.json").write_text(json.dumps({"results": results}))
        return 0

    def commands_of(self, row: str) -> list[list[str]]:
        return [c for c in self.calls if any(f"/{row}/seed" in a for a in c)]


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("prompts.csv").write_text("caption\na red circle moving left\na blue square moving up\n")
    Path("params.yaml").write_text(yaml.safe_dump({
        "distill": {"base": "tiny", "optim": {"max_steps": 2}},
        "eval": {"prompts": {"path": "prompts.csv", "video_column": None}, "protocol": "real",
                 "methods": [{"method": "x", "steps": 1, "generator": {"teacher": "tiny"}}]},
    }))
    Path("repro.yaml").write_text(yaml.safe_dump({
        "params": "params.yaml", "prompt_sets": {"seen": {"path": "prompts.csv"}},
        "work_dir": "work", "results_dir": "results", "jobs": 1, "progress_every_s": 60,
        "eval_steps": [1, 2], "teacher_steps": [1], "teacher_preset": "tiny", "default_seeds": 3,
        "common": ["optim.global_batch=1"],
        "rows": {"lcm": {"label": "LCM", "tables": ["t"], "sets": ["discriminator.enabled=false"]},
                 "mcm": {"label": "MCM", "tables": ["t"], "sets": ["distill.lambda_real=0.5"]}},
        "tables": {"t": "a table"},
        "claims": [{"table": "t", "claim": "MCM beats LCM", "a": "mcm", "b": "lcm", "metric": "fvd_toy",
                    "steps": [1, 2], "better": "lower"}],
    }))
    return tmp_path


def _run(sets=None, runner=None, quick=False):
    cfg = load_reproduce_config("repro.yaml", sets)
    runner = runner or FakeVerbs()
    outcome = run_all(Planner(cfg, quick).plan(), Executor(cfg, quick, runner=runner), cfg.jobs, 60,
                      echo=lambda _: None)
    return cfg, runner, outcome


def test_finished_runs_are_reused_and_a_changed_row_reruns(workspace):
    cfg, verbs, outcome = _run()
    assert len(outcome.finished) == 7 and not outcome.failed  # teacher + 2 rows x 3 seeds
    assert len(verbs.calls) == 2 * 3 * 2 + 1                   # distill + eval per student run, one teacher eval
    doc = build_results(cfg, quick=False)
    claim = doc["claims"][0]
    # The fake's MCM is 20 FVD better at every seed: a - b = -20 exactly, so the interval is [-20, -20].
    assert claim["interval"]["mean"] == pytest.approx(-20.0) and claim["interval"]["n"] == 3
    assert claim["verdict"] == "reproduces"
    assert doc["rows"]["lcm"]["summary"]["seen"]["1"]["fvd_toy"]["mean"] == pytest.approx(100 + 3 - 1)

    _, verbs2, outcome2 = _run()
    assert verbs2.calls == [] and len(outcome2.cached) == 7   # nothing re-runs while the keys are unchanged

    _, verbs3, outcome3 = _run(sets=["rows.mcm.sets=[distill.lambda_real=0.5, optim.lr=1.0e-5]"])
    assert sorted(outcome3.finished) == ["mcm/seed0", "mcm/seed1", "mcm/seed2"]
    assert len(verbs3.commands_of("mcm")) == 6 and verbs3.commands_of("lcm") == []
    assert all("optim.lr=1.0e-5" in c for c in verbs3.commands_of("mcm") if c[3] == "distill")
    folders = sorted(p.name for p in Path("work/mcm").iterdir())
    assert len(folders) == 6  # the changed runs trained in fresh folders (seedK-NEWKEY), not the old ones


@pytest.fixture
def sigint_raises():
    """Python's own SIGINT handler (KeyboardInterrupt): pytest-xdist workers ignore SIGINT, and
    ``_thread.interrupt_main`` does nothing where the signal is ignored."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def test_a_killed_reproduction_resumes_where_it_stopped(workspace, sigint_raises):
    # Call 1: teacher eval; 2-3: lcm/seed0 distill + eval; 4: mcm/seed0 distill, killed mid-way.
    killer = FakeVerbs(kill_at=4)
    with pytest.raises(KeyboardInterrupt):
        _run(runner=killer)
    killer.release.set()
    time.sleep(0.2)
    killed = Path(next(a for a in killer.calls[3] if "/mcm/seed0-" in a))
    assert (killed / "checkpoints").is_dir() and not (killed / "final").exists()
    assert Path("results/runs/lcm/seed0.json").is_file() and not Path("results/runs/mcm/seed0.json").exists()

    cfg, verbs, outcome = _run()
    assert "lcm/seed0" in outcome.cached and "teacher" in outcome.cached
    assert len(outcome.finished) == 5 and not outcome.failed
    first_mcm = verbs.commands_of("mcm")[0]
    # The killed distillation is continued in its own folder, from its newest checkpoint.
    assert first_mcm[3] == "distill" and "--resume" in first_mcm
    assert first_mcm[first_mcm.index("--output") + 1] == str(killed)
    paths = write_results(cfg, quick=False, outcome=outcome)
    doc = json.loads(paths["results"].read_text())
    assert doc["runs"]["done"] == 7 and doc["runs"]["missing"] == {}
    assert "reproduces" in paths["report"].read_text()


def test_bad_rows_and_claims_name_the_field(workspace):
    with pytest.raises(ValueError, match=r"claims\[0\].*unknown row 'nope'"):
        load_reproduce_config("repro.yaml", ["claims=[{table: t, claim: c, a: mcm, b: nope, metric: fvd_toy, "
                                             "steps: [1], better: lower}]"])
    with pytest.raises(ValueError, match="teacher:SAMPLER"):
        load_reproduce_config("repro.yaml", ["claims=[{table: t, claim: c, a: mcm, b: 'teacher:Euler', "
                                             "metric: fvd_toy, steps: [1], better: lower}]"])
    with pytest.raises(ValueError, match=r"rows.lcm.tables: unknown table"):
        load_reproduce_config("repro.yaml", ["rows.lcm.tables=[t9]"])
