"""Plan and execute a reproduction: every (row, training seed) is one run; finished runs are reused by key.

A run trains its stages with ``mcm distill --resume`` (a killed run continues from its newest checkpoint;
a finished stage, one with ``final/``, is not retrained), evaluates the student on each prompt set with
``mcm eval`` (an evaluation with a valid ``metrics.json`` is kept), and writes one small result file,
atomically, under ``results_dir/runs/ROW/seedK.json`` (committed: a reproduction can span sessions). A result
file whose key equals the run's current key is reused; any other key re-runs it. The teacher's samplers are
one more run (``teacher``), evaluated through the teacher-baseline cache.

Runs execute as subprocesses, ``jobs`` side by side, each with ``threads_per_job`` threads; the overall progress
and each running run's phase (``distill 80/120``, ``eval zero_shot``) are printed every ``progress_every_s``.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import yaml

from mcm.reproduce.config import TEACHER_SAMPLERS, ReproduceConfig
from mcm.reproduce.keys import Digests, code_version, run_key, training_desc

log = logging.getLogger(__name__)

RESULT_FORMAT = 1
TEACHER_ROW = "teacher"
LOG_FILE = "log.txt"
METRICS_FILE = "metrics.json"

#: Runs a command (argv, log file, environment) and returns its exit status.
CommandRunner = Callable[[list[str], Path, dict[str, str]], int]
#: Child processes running now (terminated when the reproduction is interrupted).
_ACTIVE: set[subprocess.Popen] = set()
_ACTIVE_LOCK = threading.Lock()
#: Set when the reproduction is interrupted: no new child starts.
_STOPPING = threading.Event()


@dataclass
class Run:
    """One (row, seed) of a reproduction, or the teacher's samplers (row ``teacher``, seed None)."""

    row: str
    seed: Optional[int]
    key: str
    stages: list[list[str]]
    prompt_sets: list[str]
    methods: list[dict[str, Any]]
    folder: Path
    result_path: Path
    config_desc: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.row if self.seed is None else f"{self.row}/seed{self.seed}"

    def stage_dir(self, k: int) -> Path:
        return self.folder / ("train" if len(self.stages) == 1 else f"stage{k}")

    def student_dir(self) -> Path:
        return self.stage_dir(len(self.stages) - 1)

    def eval_dir(self, prompt_set: str) -> Path:
        return self.folder / "eval" / prompt_set


# ------------------------------------------------------------------------------------------------ planning
def teacher_methods(cfg: ReproduceConfig) -> list[dict[str, Any]]:
    return [{"method": name, "steps": s, "generator": {"teacher": cfg.teacher_preset, "scheduler": scheduler,
                                                       "guidance": cfg.teacher_guidance}}
            for name, scheduler in TEACHER_SAMPLERS.items() for s in cfg.teacher_steps]


def student_methods(cfg: ReproduceConfig, run_folder: Path, label: str) -> list[dict[str, Any]]:
    return [{"method": label, "steps": s, "generator": {"checkpoint": str(run_folder)}} for s in cfg.eval_steps]


def eval_sets(cfg: ReproduceConfig, prompt_set: str, quick: bool) -> list[str]:
    """``--set`` overrides of the eval section for one prompt set (methods are added per run)."""
    sets = [f"prompts.path={cfg.prompt_sets[prompt_set].path}"]
    if quick and cfg.quick.prompt_limit:
        sets.append(f"prompts.limit={cfg.quick.prompt_limit}")
    return sets


def check_prompt_sets(cfg: ReproduceConfig) -> None:
    """The evaluation prompts must be the committed ones (fixed before the first full run)."""
    for name, ref in cfg.prompt_sets.items():
        if not ref.path.is_file():
            raise FileNotFoundError(f"prompt set {name!r}: {ref.path} not found (run `mcm world` first, or "
                                    "`make reproduce-toy`, which writes the world)")
        if ref.committed is not None:
            if not ref.committed.is_file():
                raise FileNotFoundError(f"prompt set {name!r}: the committed copy {ref.committed} is missing")
            if ref.committed.read_bytes() != ref.path.read_bytes():
                raise ValueError(f"prompt set {name!r}: {ref.path} differs from the committed {ref.committed}: "
                                 "the evaluation prompts are fixed; regenerate the world with its committed seed")


class Planner:
    """Builds the runs of a reproduction and their keys (config + content of inputs + code version)."""

    def __init__(self, cfg: ReproduceConfig, quick: bool = False) -> None:
        self.base = cfg
        self.cfg = cfg.for_mode(quick)
        self.quick = quick
        self.digests = Digests()
        self.code = code_version()
        self._eval_descs: dict[str, dict[str, Any]] = {}

    def eval_desc(self, prompt_set: str) -> dict[str, Any]:
        if prompt_set not in self._eval_descs:
            from mcm.eval.baseline_cache import evaluation_desc
            from mcm.eval.config import load_eval_config
            from mcm.eval.prompts import load_prompt_set

            ecfg = load_eval_config(self.cfg.params, sets=eval_sets(self.cfg, prompt_set, self.quick),
                                    section=self.cfg.eval_section)
            self._eval_descs[prompt_set] = evaluation_desc(ecfg, load_prompt_set(ecfg.prompts))
        return self._eval_descs[prompt_set]

    def stage_sets(self, row: str, seed: int) -> list[list[str]]:
        extra = list(self.cfg.quick.sets) if self.quick else []
        return [list(self.cfg.common) + sets + extra + [f"train.seed={seed}"]
                for sets in self.cfg.rows[row].stage_sets()]

    def student_run(self, row: str, seed: int) -> Run:
        from mcm.config.load import load_config

        cfg = self.cfg
        stages = self.stage_sets(row, seed)
        descs = []
        for k, sets in enumerate(stages):
            init = ["two_stage.init_from=<previous stage>"] if k else []  # the previous stage's key covers it
            resolved = load_config(str(cfg.params), sets + init, section=cfg.distill_section)
            descs.append(training_desc(resolved.model_dump(mode="json"), self.digests))
        prompt_sets = list(cfg.rows[row].prompt_sets)
        key = run_key({"kind": "student", "format": RESULT_FORMAT, "training": descs, "seed": seed,
                       "eval": {p: self.eval_desc(p) for p in prompt_sets}, "steps": cfg.eval_steps,
                       "code": self.code})
        # The folder carries the key: a killed run resumes in it, a changed run starts in a fresh one.
        run = Run(row=row, seed=seed, key=key, stages=stages, prompt_sets=prompt_sets, methods=[],
                  folder=cfg.work_dir / row / f"seed{seed}-{key}",
                  result_path=cfg.results_dir / "runs" / row / f"seed{seed}.json", config_desc={"stages": stages})
        run.methods = student_methods(cfg, run.student_dir(), cfg.rows[row].label)
        return run

    def teacher_run(self) -> Run:
        from mcm.config.load import load_config

        cfg = self.cfg
        teacher = load_config(cfg.teacher_preset).teacher
        prompt_sets = list(cfg.prompt_sets)
        methods = teacher_methods(cfg)
        key = run_key({"kind": "teacher", "format": RESULT_FORMAT, "teacher": teacher.model_dump(mode="json"),
                       "weights": self.digests.of(teacher.path), "methods": methods,
                       "eval": {p: self.eval_desc(p) for p in prompt_sets}, "code": self.code})
        return Run(row=TEACHER_ROW, seed=None, key=key, stages=[], prompt_sets=prompt_sets, methods=methods,
                   folder=cfg.work_dir / f"{TEACHER_ROW}-{key}", result_path=cfg.results_dir / "runs" / f"{TEACHER_ROW}.json",
                   config_desc={"methods": methods})

    def plan(self, rows: Optional[list[str]] = None) -> list[Run]:
        """The teacher run, then every row's runs ordered seed-major (seed 0 of every row first)."""
        names = rows or list(self.cfg.rows)
        unknown = [r for r in names if r not in self.cfg.rows]
        if unknown:
            raise ValueError(f"--rows: unknown row(s) {unknown} (known: {', '.join(self.cfg.rows)})")
        pairs = sorted(((seed, i, row) for i, row in enumerate(names)
                        for seed in self.base.seeds_of(row, self.quick)))
        return [self.teacher_run()] + [self.student_run(row, seed) for seed, _, row in pairs]


# ----------------------------------------------------------------------------------------------- executing
def read_result(path: Path) -> Optional[dict[str, Any]]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def is_finished(run: Run) -> bool:
    """A result file with this run's key exists."""
    doc = read_result(run.result_path)
    return doc is not None and doc.get("key") == run.key


def write_json_atomic(path: Path, doc: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(doc, indent=1, sort_keys=False) + "\n")
    tmp.replace(path)


def subprocess_runner(argv: list[str], log_file: Path, env: dict[str, str]) -> int:
    """Run ``argv`` with its output appended to ``log_file``."""
    with open(log_file, "a") as out:
        out.write(f"$ {' '.join(argv)}\n")
        out.flush()
        with _ACTIVE_LOCK:
            if _STOPPING.is_set():
                raise RuntimeError("the reproduction is being interrupted")
            proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env)
            _ACTIVE.add(proc)
        try:
            return proc.wait()
        finally:
            with _ACTIVE_LOCK:
                _ACTIVE.discard(proc)


def terminate_children(timeout_s: float = 10.0) -> None:
    """Stop every running child (an interrupted reproduction leaves checkpoints, resumed by the next one)."""
    with _ACTIVE_LOCK:
        _STOPPING.set()
        procs = list(_ACTIVE)
    for proc in procs:
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()


def _mcm(*args: str) -> list[str]:
    return [sys.executable, "-m", "mcm.cli.main", *args]


def _valid_metrics(path: Path, n_methods: int) -> Optional[dict[str, Any]]:
    doc = read_result(path)
    return doc if doc is not None and len(doc.get("results", [])) == n_methods else None


class Executor:
    """Executes runs (training stages, evaluations, the result file), reporting each run's phase."""

    def __init__(self, cfg: ReproduceConfig, quick: bool, runner: CommandRunner = subprocess_runner) -> None:
        self.cfg = cfg.for_mode(quick)
        self.quick = quick
        self.runner = runner
        self.phase: dict[str, str] = {}
        self._phase_dirs: dict[str, Path] = {}
        self._lock = threading.Lock()

    def _set_phase(self, run: Run, phase: str, progress_dir: Optional[Path] = None) -> None:
        with self._lock:
            self.phase[run.name] = phase
            if progress_dir is not None:
                self._phase_dirs[run.name] = progress_dir
            else:
                self._phase_dirs.pop(run.name, None)

    def _clear_phase(self, run: Run) -> None:
        with self._lock:
            self.phase.pop(run.name, None)
            self._phase_dirs.pop(run.name, None)

    def running(self) -> list[str]:
        """``name: phase`` of every running run (distillation shows its newest logged step)."""
        with self._lock:
            items = list(self.phase.items())
            dirs = dict(self._phase_dirs)
        lines = []
        for name, phase in items:
            step = _last_step(dirs[name] / "metrics.jsonl") if name in dirs else None
            lines.append(f"{name}: {phase}" + (f" step {step}" if step is not None else ""))
        return lines

    def _run(self, run: Run, argv: list[str], what: str) -> None:
        env = {**os.environ, "OMP_NUM_THREADS": str(self.cfg.threads_per_job),
               "MKL_NUM_THREADS": str(self.cfg.threads_per_job), "PYTHONUNBUFFERED": "1"}
        rc = self.runner(argv, run.folder / LOG_FILE, env)
        if rc != 0:
            raise RuntimeError(f"{run.name}: {what} failed (exit {rc}); see {run.folder / LOG_FILE}")

    def execute(self, run: Run) -> dict[str, Any]:
        """Train (resuming), evaluate (keeping finished evaluations) and write the result file."""
        cfg = self.cfg
        run.folder.mkdir(parents=True, exist_ok=True)
        started = time.time()
        train_s = 0.0
        for k, sets in enumerate(run.stages):
            out = run.stage_dir(k)
            if (out / "final").is_dir():
                continue
            init = [f"two_stage.init_from={run.stage_dir(k - 1)}"] if k else []
            self._set_phase(run, f"distill stage {k + 1}/{len(run.stages)}" if len(run.stages) > 1 else "distill", out)
            t0 = time.time()
            argv = _mcm("distill", "--config", str(cfg.params), "--section", cfg.distill_section,
                        "--output", str(out), "--resume")
            for item in sets + init:
                argv += ["--set", item]
            self._run(run, argv, f"distill stage {k}")
            train_s += time.time() - t0
        eval_s = 0.0
        metrics: dict[str, Any] = {}
        grids: dict[str, Any] = {}
        for prompt_set in run.prompt_sets:
            out = run.eval_dir(prompt_set)
            doc = _valid_metrics(out / METRICS_FILE, len(run.methods))
            if doc is None:
                self._set_phase(run, f"eval {prompt_set}")
                t0 = time.time()
                argv = _mcm("eval", "--config", str(cfg.params), "--section", cfg.eval_section, "--out", str(out))
                for item in eval_sets(cfg, prompt_set, self.quick):
                    argv += ["--set", item]
                argv += ["--set", "methods=" + yaml.safe_dump(run.methods, default_flow_style=True, width=10**6).strip()]
                self._run(run, argv, f"eval {prompt_set}")
                eval_s += time.time() - t0
                doc = _valid_metrics(out / METRICS_FILE, len(run.methods))
                if doc is None:
                    raise RuntimeError(f"{run.name}: eval {prompt_set} wrote no complete {out / METRICS_FILE}")
            metrics[prompt_set], grids[prompt_set] = self._collect(run, doc, out, prompt_set)
        result = {
            "format": RESULT_FORMAT, "key": run.key, "row": run.row, "seed": run.seed, "quick": self.quick,
            "config": run.config_desc, "metrics": metrics, "grids": grids,
            "num_videos": {p: _num_videos(read_result(run.eval_dir(p) / METRICS_FILE)) for p in run.prompt_sets},
            "timing": {"train_s": round(train_s, 1), "eval_s": round(eval_s, 1),
                       "wall_s": round(time.time() - started, 1), "threads": cfg.threads_per_job},
            "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        write_json_atomic(run.result_path, result)
        self._clear_phase(run)
        return result

    def _collect(self, run: Run, doc: dict[str, Any], eval_dir: Path, prompt_set: str) -> tuple[dict, dict]:
        """Metrics by step count (students) or by ``SAMPLER@STEPS`` (teacher); seed 0's grid GIFs copied."""
        cfg = self.cfg
        metrics, grids = {}, {}
        keep_gifs = run.row == TEACHER_ROW or (run.seed == 0 and run.row in cfg.gif_rows)
        for res in doc["results"]:
            key = str(res["steps"]) if run.row != TEACHER_ROW else f"{res['method']}@{res['steps']}"
            metrics[key] = res["metrics"]
            if keep_gifs and cfg.gif_prompts:
                files = []
                for rel in res.get("grid_files", [])[: cfg.gif_prompts]:
                    src = eval_dir / rel
                    dst = cfg.results_dir / "gifs" / run.row / prompt_set / Path(rel).name
                    if src.is_file():
                        dst.parent.mkdir(parents=True, exist_ok=True)
                        shutil.copyfile(src, dst)
                        files.append(dst.relative_to(cfg.results_dir).as_posix())
                grids[key] = files
        return metrics, grids


def _num_videos(doc: Optional[dict[str, Any]]) -> Optional[int]:
    if not doc or not doc.get("results"):
        return None
    return doc["results"][0].get("num_videos")


def _last_step(path: Path) -> Optional[int]:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 4096))
            lines = f.read().decode(errors="ignore").strip().splitlines()
        return int(json.loads(lines[-1])["step"]) if lines else None
    except (OSError, ValueError, KeyError, IndexError):
        return None


# ------------------------------------------------------------------------------------------------ the loop
@dataclass
class Outcome:
    finished: list[str]
    cached: list[str]
    failed: dict[str, str]
    wall_s: float


def _echo(line: str) -> None:
    print(line, flush=True)  # progress reaches a log file at once, not when the buffer fills


def run_all(runs: list[Run], executor: Executor, jobs: int, progress_every_s: float,
            echo: Callable[[str], None] = _echo) -> Outcome:
    """Execute the runs whose result is missing or stale, ``jobs`` at a time, printing progress."""
    _STOPPING.clear()
    cached = [r.name for r in runs if is_finished(r)]
    todo = [r for r in runs if not is_finished(r)]
    total = len(runs)
    done: list[str] = []
    failed: dict[str, str] = {}
    t0 = time.time()
    echo(f"reproduce: {total} runs, {len(cached)} reused (key unchanged), {len(todo)} to run, {jobs} at a time")
    stop = threading.Event()

    def report() -> None:
        while not stop.wait(progress_every_s):
            running = "; ".join(executor.running()) or "-"
            echo(f"reproduce: [{len(cached) + len(done)}/{total} done, {len(failed)} failed, "
                 f"{(time.time() - t0) / 60:.1f} min] running: {running}")

    monitor = threading.Thread(target=report, daemon=True)
    monitor.start()

    def one(run: Run) -> None:
        t_run = time.time()
        try:
            executor.execute(run)
        except Exception as err:  # a failed run is reported and the others go on
            failed[run.name] = str(err)
            executor._clear_phase(run)
            echo(f"reproduce: FAILED {run.name}: {err}")
            return
        done.append(run.name)
        echo(f"reproduce: [{len(cached) + len(done)}/{total}] finished {run.name} in "
             f"{(time.time() - t_run) / 60:.1f} min")

    pool = ThreadPoolExecutor(max_workers=jobs)
    try:
        futures = [pool.submit(one, run) for run in todo]
        while not all(f.done() for f in futures):
            wait(futures, timeout=1.0)
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        terminate_children()
        raise
    finally:
        stop.set()
    pool.shutdown(wait=True)
    return Outcome(finished=done, cached=cached, failed=failed, wall_s=time.time() - t0)
