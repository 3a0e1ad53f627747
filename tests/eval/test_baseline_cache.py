"""Teacher-baseline results are computed once per key and reused; students and changed inputs are not."""

from __future__ import annotations

import shutil

import pytest

from mcm.eval.baseline_cache import baseline_key, is_baseline
from mcm.eval.config import EvalConfig, MethodSpec
from mcm.eval.prompts import load_prompt_set
from mcm.eval.runner import run_evaluation

from test_toy_metrics import _toy_config, world, world_factory  # noqa: F401  (the module's world fixture)


class CountingFactory:
    """world_factory that counts how many generators were built, per look."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def __call__(self, steps, device, look="clean", **kw):
        self.calls.append(look)
        return world_factory(steps, device, look)


def _cfg(world, out, cache, **kw):  # noqa: F811
    methods = [{"method": "Teacher", "steps": 2, "generator": {"teacher": "tiny", "look": "degraded"}},
               {"method": "Student", "steps": 2, "generator": {"checkpoint": "runs/x", "look": "clean"}}]
    return EvalConfig.model_validate(_toy_config(world, out, methods=methods, grid_prompts=2,
                                                 baseline_cache={"write_dir": str(cache), **kw}))


@pytest.fixture
def no_plots(monkeypatch):
    from mcm.eval import report

    monkeypatch.setattr(report, "plot_metrics", lambda results, out_dir: [])


def test_teacher_baseline_is_evaluated_once(world, tmp_path, no_plots):  # noqa: F811
    cache = tmp_path / "cache"
    factory = CountingFactory()
    first = run_evaluation(_cfg(world, tmp_path / "a", cache), factory)
    assert factory.calls == ["degraded", "clean"] and len(list(cache.iterdir())) == 1
    factory.calls.clear()
    cfg = _cfg(world, tmp_path / "b", cache)
    again = run_evaluation(cfg, factory)
    assert factory.calls == ["clean"]  # only the student is generated again
    assert again["results"][0]["metrics"] == pytest.approx(first["results"][0]["metrics"])
    assert again["results"][0]["cache"]["dir"] == str(cache)
    assert all((cfg.out_dir / f).is_file() for f in again["results"][0]["grid_files"])
    assert "Teacher@2" in (cfg.out_dir / "report.html").read_text()


def test_shipped_cache_is_read_not_written(world, tmp_path, no_plots):  # noqa: F811
    factory = CountingFactory()
    run_evaluation(_cfg(world, tmp_path / "a", tmp_path / "made"), factory)
    shutil.copytree(tmp_path / "made", tmp_path / "shipped")
    factory.calls.clear()
    run_evaluation(_cfg(world, tmp_path / "b", tmp_path / "new", dirs=[str(tmp_path / "shipped")]), factory)
    assert factory.calls == ["clean"] and not (tmp_path / "new").exists()


def test_key_follows_what_the_numbers_depend_on(world, tmp_path):  # noqa: F811
    cfg = _cfg(world, tmp_path / "a", tmp_path / "cache")
    ps = load_prompt_set(cfg.prompts)
    teacher, student = cfg.methods
    assert is_baseline(teacher) and not is_baseline(student)
    key, desc = baseline_key(teacher, cfg, ps)
    assert key == baseline_key(teacher, cfg.model_copy(update={"batch_size": 7}), ps)[0]  # batching: same numbers
    assert desc["protocol"]["toy"]["images"] and desc["prompts"]["file"]
    other_seed = cfg.model_copy(update={"seed": 1})
    assert baseline_key(teacher, other_seed, ps)[0] != key
    more_steps = MethodSpec(method="Teacher", steps=4, generator=teacher.generator)
    assert baseline_key(more_steps, cfg, ps)[0] != key
    edited = tmp_path / "seen.csv"
    edited.write_text((world / "prompts/seen.csv").read_text().replace("red", "blue", 1))
    moved = cfg.model_copy(update={"prompts": cfg.prompts.model_copy(update={"path": edited,
                                                                             "video_root": world / "prompts"})})
    assert baseline_key(teacher, moved, load_prompt_set(moved.prompts))[0] != key


def test_untrained_student_is_cached_by_teacher_and_sampler_not_by_run(world, tmp_path):  # noqa: F811
    """The untrained student (lora: false) is the teacher's weights under the run's LCM sampler: two runs of the
    same teacher and sampler share its entry; another skip grid does not."""
    from mcm.config.load import config_to_yaml, load_config
    from mcm.runs.folder import write_run_info

    cfg = _cfg(world, tmp_path / "a", tmp_path / "cache")
    ps = load_prompt_set(cfg.prompts)
    runs = {}
    for name, sets in (("a", ["distill.lambda_adv=2"]), ("b", ["distill.lambda_adv=5"]),
                       ("grid", ["distill.num_ddim_timesteps=8"])):
        (tmp_path / name).mkdir(exist_ok=True)
        (tmp_path / name / "config.yaml").write_text(config_to_yaml(load_config("tiny", sets)))
        (tmp_path / name / "checkpoints").mkdir(exist_ok=True)
        write_run_info(tmp_path / name)
        runs[name] = MethodSpec(method="untrained student", steps=2,
                                generator={"checkpoint": str(tmp_path / name), "lora": False})
    assert all(is_baseline(s) for s in runs.values())
    assert not is_baseline(MethodSpec(method="s", steps=2, generator={"checkpoint": str(tmp_path / "a")}))
    keys = {name: baseline_key(spec, cfg, ps)[0] for name, spec in runs.items()}
    assert keys["a"] == keys["b"] != keys["grid"]
