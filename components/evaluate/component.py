"""Evaluate the student: the paper's Table 1 layout (1/2/4/8 steps against DDIM and DPM++, here on the world's
ground-truth metrics, or FVD / CLIPSIM / FID on real data), on the seen and the held-out prompts, and the run
overview. Outputs the overview as an HTML artifact and a Markdown summary the Kubeflow UI shows."""

from kfp import dsl
from kfp.dsl import HTML, Artifact, Dataset, Input, Markdown, Metrics, Model, Output

from components.images import image


@dsl.component(base_image=image("eval"), install_kfp_package=False)
def evaluate(model: Input[Model], world: Input[Dataset], world_root: str, seen: dict, zero_shot: dict,
             report_config: dict, results: Output[Artifact], report: Output[HTML], summary: Output[Markdown],
             metrics: Output[Metrics]):
    """``mcm eval`` (params.yaml ``eval`` and ``eval_zero_shot``) then ``mcm report`` (``report``)."""
    from pathlib import Path

    from components.evaluate.run_eval import evaluate_run

    out = evaluate_run(model.path, world.path, world_root, {"seen": seen, "zero_shot": zero_shot}, report_config,
                       results.path, log_metric=metrics.log_metric)
    Path(report.path).write_text(out["html"], encoding="utf-8")
    Path(summary.path).write_text(out["markdown"], encoding="utf-8")
    results.metadata.update({"overview": "run/index.html"})
