"""Typed configuration of a reproduction (``mcm reproduce``): the rows of the paper's tables in miniature, the
claims decided from them, and the quick mode.

A row is a student configuration: ``params``' distill section + ``common`` + the row's ``sets`` (or, for a
multi-stage row such as the two-stage baseline, one list of sets per stage, each stage initialised from the
previous one). Rows are trained for ``seeds`` training seeds (``train.seed`` = 0 .. seeds-1) and evaluated on
fixed evaluation prompts and seeds. Presets live in ``mcm/reproduce/presets`` (``toy``: the small world).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal, Optional

from pydantic import Field, ValidationError, field_validator, model_validator

from mcm.config.base import StrictConfig

REPRODUCE_PRESET_PACKAGE = "mcm.reproduce.presets"
#: ``teacher:SAMPLER`` (same steps as the student) or ``teacher:SAMPLER@STEPS`` (fixed steps).
TEACHER_REF = re.compile(r"^teacher:(?P<sampler>[^@]+)(@(?P<steps>\d+))?$")
#: Sampler name -> the scheduler key of the teacher generator (mcm.sampler.baselines).
TEACHER_SAMPLERS = {"DDIM": "ddim", "DPM++": "dpm++"}


class PromptSetRef(StrictConfig):
    path: Path = Field(..., description="The prompt CSV the evaluation reads (written by `mcm world`).")
    committed: Optional[Path] = Field(
        None, description="A committed copy: the reproduction refuses to run when the two differ (the evaluation "
        "prompts are fixed before the first full run).")


class RowConfig(StrictConfig):
    label: str = Field(..., description="Row label in the report's tables.")
    tables: list[str] = Field(..., min_length=1, description="Keys of `tables` this row belongs to.")
    seeds: Optional[int] = Field(None, ge=1, description="Training seeds 0..seeds-1 (None: the reproduction's "
                                 "default_seeds).")
    prompt_sets: list[str] = Field(default_factory=lambda: ["seen"], description="Prompt sets it is evaluated on.")
    sets: Optional[list[str]] = Field(None, description="Dotted overrides of the base distill config (one stage).")
    stages: Optional[list[list[str]]] = Field(
        None, description="Overrides per stage (multi-stage rows): stage k>0 gets two_stage.init_from = stage k-1.")

    @model_validator(mode="after")
    def _one_kind(self):
        if (self.sets is None) == (self.stages is None):
            raise ValueError("a row sets exactly one of `sets` (one stage) or `stages` (several)")
        if self.stages is not None and not self.stages:
            raise ValueError("`stages` must list at least one stage")
        return self

    def stage_sets(self) -> list[list[str]]:
        return [list(self.sets)] if self.sets is not None else [list(s) for s in self.stages or []]


class ClaimConfig(StrictConfig):
    table: str = Field(..., description="Key of `tables`.")
    claim: str = Field(..., description="The ordering the paper claims, in words.")
    a: str = Field(..., description="The row the paper says is better.")
    b: str = Field(..., description="The row compared against, or teacher:SAMPLER[@STEPS].")
    metric: str = Field(..., description="Metric key of the evaluation (e.g. fvd_toy, prompt_acc).")
    steps: list[int] = Field(..., min_length=1, description="Sampling steps the metric is averaged over, per seed.")
    prompt_set: str = Field("seen", description="Prompt set the claim is judged on.")
    better: Literal["higher", "lower"] = Field(..., description="The direction in which `a` is claimed better.")
    margin: float = Field(0.0, ge=0, description="> 0: a non-inferiority claim (a is no worse than b by more "
                          "than margin).")

    @field_validator("b")
    @classmethod
    def _teacher_ref(cls, value: str) -> str:
        if value.startswith("teacher:"):
            match = TEACHER_REF.match(value)
            if not match or match["sampler"] not in TEACHER_SAMPLERS:
                raise ValueError(f"b={value!r}: expected teacher:SAMPLER[@STEPS], SAMPLER one of "
                                 f"{', '.join(TEACHER_SAMPLERS)}")
        return value


class QuickConfig(StrictConfig):
    seeds: int = Field(1, ge=1, description="Seeds per row in quick mode.")
    sets: list[str] = Field(default_factory=list, description="Overrides applied after every row's (fewer updates).")
    prompt_limit: Optional[int] = Field(None, ge=1, description="First N prompts of each set.")
    eval_steps: list[int] = Field(default_factory=lambda: [1, 4])
    teacher_steps: list[int] = Field(default_factory=lambda: [1, 4])
    work_dir: Path = Field(Path("runs/reproduce-quick"))
    results_dir: Path = Field(Path("runs/reproduce-quick/results"))


class DeviationConfig(StrictConfig):
    name: str
    paper: str
    here: str
    why: str


class ReproduceConfig(StrictConfig):
    params: Path = Field(Path("params.yaml"), description="The pipeline's configuration (distill and eval sections).")
    distill_section: str = Field("distill", description="Section of `params` every student row builds on.")
    eval_section: str = Field("eval", description="Section of `params` every evaluation builds on.")
    prompt_sets: dict[str, PromptSetRef] = Field(..., min_length=1)
    work_dir: Path = Field(Path("runs/reproduce"), description="Run folders (checkpoints, evaluations, logs).")
    results_dir: Path = Field(Path("docs/results/toy"), description="Result files, results.json and the report.")
    jobs: int = Field(2, ge=1, description="Runs side by side (processes).")
    threads_per_job: int = Field(1, ge=1, description="OMP/torch threads of each run's processes.")
    default_seeds: int = Field(3, ge=1, description="Training seeds of a row that does not set `seeds`.")
    eval_steps: list[int] = Field(default_factory=lambda: [1, 2, 4, 8], min_length=1)
    teacher_steps: list[int] = Field(default_factory=lambda: [1, 2, 4, 8, 50], min_length=1)
    teacher_guidance: float = Field(3.0, gt=0, description="CFG scale of the teacher's samplers.")
    teacher_preset: str = Field("toy", description="Preset naming the teacher of the baselines.")
    gif_rows: list[str] = Field(default_factory=list, description="Rows whose seed-0 grids the report shows.")
    gif_prompts: int = Field(2, ge=0, description="Grid prompts shown per row and step count.")
    confidence: float = Field(0.95, gt=0, lt=1, description="Confidence of the paired-difference intervals.")
    progress_every_s: float = Field(30.0, gt=0, description="Seconds between overall progress lines.")
    deviations: list[DeviationConfig] = Field(default_factory=list)
    common: list[str] = Field(default_factory=list, description="Overrides of every student run.")
    rows: dict[str, RowConfig] = Field(..., min_length=1)
    tables: dict[str, str] = Field(..., min_length=1, description="Table key -> title.")
    claims: list[ClaimConfig] = Field(default_factory=list)
    quick: QuickConfig = Field(default_factory=QuickConfig)

    @model_validator(mode="after")
    def _references(self):
        for name, row in self.rows.items():
            _check_known(f"rows.{name}.tables", "table", row.tables, self.tables)
            _check_known(f"rows.{name}.prompt_sets", "prompt set", row.prompt_sets, self.prompt_sets)
        _check_known("gif_rows", "row", self.gif_rows, self.rows)
        for i, claim in enumerate(self.claims):
            where = f"claims[{i}] ({claim.claim!r})"
            if claim.table not in self.tables:
                raise ValueError(f"{where}: unknown table {claim.table!r}")
            for side in (claim.a, claim.b):
                if not side.startswith("teacher:") and side not in self.rows:
                    raise ValueError(f"{where}: unknown row {side!r} (rows: {', '.join(self.rows)})")
                if side in self.rows and claim.prompt_set not in self.rows[side].prompt_sets:
                    raise ValueError(f"{where}: row {side!r} is not evaluated on prompt set {claim.prompt_set!r}")
            bad_steps = [s for s in claim.steps if s not in self.eval_steps]
            if bad_steps:
                raise ValueError(f"{where}: steps {bad_steps} are not in eval_steps {self.eval_steps}")
        return self

    def seeds_of(self, row: str, quick: bool = False) -> list[int]:
        n = self.quick.seeds if quick else (self.rows[row].seeds or self.default_seeds)
        return list(range(n))

    def for_mode(self, quick: bool) -> "ReproduceConfig":
        """This config as run: quick mode swaps in its step counts, prompt limit and folders (seeds via
        :meth:`seeds_of`); claims on steps it does not evaluate are kept (they read 'not run')."""
        if not quick:
            return self
        return self.model_copy(update={
            "eval_steps": list(self.quick.eval_steps), "teacher_steps": list(self.quick.teacher_steps),
            "work_dir": self.quick.work_dir, "results_dir": self.quick.results_dir,
        })


def _check_known(field: str, what: str, values: list[str], known: Any) -> None:
    missing = [v for v in values if v not in known]
    if missing:
        raise ValueError(f"{field}: unknown {what}(s) {missing} (known: {', '.join(known)})")


def load_reproduce_config(name_or_path: str | Path, sets: Optional[list[str]] = None) -> ReproduceConfig:
    """A ReproduceConfig from a preset (``mcm/reproduce/presets``) or a YAML file, then ``key=value`` sets."""
    from mcm.config.load import apply_dotted_sets, read_yaml_source

    data: dict[str, Any] = read_yaml_source(str(name_or_path), REPRODUCE_PRESET_PACKAGE)
    apply_dotted_sets(data, sets)
    try:
        return ReproduceConfig.model_validate(data)
    except ValidationError as err:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in err.errors())
        raise ValueError(f"reproduce config {str(name_or_path)!r}: {problems}") from None
