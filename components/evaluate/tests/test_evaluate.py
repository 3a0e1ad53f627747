"""The evaluation component: unit (paths of the world and the student moved into the artifacts; the UI page is
self-contained) and kfp.local (both prompt sets evaluated, the overview as an HTML artifact, a Markdown summary
with the metric table, scalar metrics)."""

import base64
import json
from pathlib import Path

from components.common import inline_html, markdown_table
from components.evaluate.run_eval import relocate
from pipelines.params import TINY, load_params

PARAMS = load_params(overlays=[TINY])


def test_relocate_moves_world_paths_and_the_latest_run():
    section = {"prompts": {"path": "data/world/prompts/seen.csv"}, "toy": {"images": "data/world/images.csv"},
               "methods": [{"generator": {"checkpoint": "runs/LATEST"}}, {"generator": {"teacher": "toy"}}],
               "other": "data/worldly/x", "n": 3}
    out = relocate(section, "data/world", "/art/world", "/art/model")
    assert out["prompts"]["path"] == "/art/world/prompts/seen.csv" and out["toy"]["images"] == "/art/world/images.csv"
    assert out["methods"][0]["generator"]["checkpoint"] == "/art/model"
    assert out["methods"][1] == {"generator": {"teacher": "toy"}} and out["other"] == "data/worldly/x" and out["n"] == 3


def test_inline_html_embeds_local_images(tmp_path):
    (tmp_path / "g").mkdir()
    (tmp_path / "g/a.gif").write_bytes(b"GIF89a-bytes")
    (tmp_path / "p.html").write_text("<img src='g/a.gif'><img src=\"https://x/y.png\"><img src='missing.png'>")
    page = inline_html(tmp_path / "p.html")
    assert f"src='data:image/gif;base64,{base64.b64encode(b'GIF89a-bytes').decode()}'" in page
    assert 'src="https://x/y.png"' in page and "src='missing.png'" in page


def test_markdown_table():
    assert markdown_table([{"method": "MCM", "steps": 4, "acc": 51.25}]) == \
        "| method | steps | acc |\n|---|---|---|\n| MCM | 4 | 51.25 |\n"


def test_evaluate_component_writes_report_summary_and_metrics(student, world_dir, kfp_local):
    from kfp import dsl
    from kfp.dsl import Dataset, Model

    from components.evaluate.component import evaluate

    @dsl.pipeline
    def single() -> dsl.HTML:
        model = dsl.importer(artifact_uri=str(student), artifact_class=Model, reimport=False)
        world = dsl.importer(artifact_uri=str(world_dir), artifact_class=Dataset, reimport=False)
        return evaluate(model=model.output, world=world.output, world_root=PARAMS["world"]["out"],
                        seen=PARAMS["eval"], zero_shot=PARAMS["eval_zero_shot"],
                        report_config=PARAMS["report"]).outputs["report"]

    report = Path(single().output.path)
    step = report.parent
    page = report.read_text()
    assert page.startswith("<!doctype html>") and "data:image/gif;base64," in page and "src='eval/" not in page
    summary = (step / "summary").read_text()
    assert "## seen (2 prompts)" in summary and "## zero_shot (2 prompts)" in summary
    assert "| MCM (ours) | 1 |" in summary and "| DDIM | 1 |" in summary
    executor = json.loads((step / "executor_output.json").read_text())
    metrics = executor["artifacts"]["metrics"]["artifacts"][0]["metadata"]
    assert 0 <= metrics["seen/MCM (ours)@1/prompt_acc"] <= 100 and "zero_shot/DDIM@1/fvd_toy" in metrics
    results = step / "results/run"
    for name in ("seen", "zero_shot"):
        doc = json.loads((results / f"eval/{name}/metrics.json").read_text())
        assert [r["key"] for r in doc["results"]] == ["MCM (ours)@1", "DDIM@1"]
        assert doc["prompt_set"]["num_prompts"] == 2
    assert not (student / "eval").exists()  # the input artifact is never written to
