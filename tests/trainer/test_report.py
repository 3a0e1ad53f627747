import torch

from mcm.sampler.video_io import write_video
from mcm.trainer.metrics import MetricsLogger
from mcm.trainer.report import write_run_report


def test_run_report_has_curves_videos_and_config(tmp_path):
    logger = MetricsLogger(tmp_path)
    for step in (1, 2, 3):
        logger.log(step, {"loss_cd": 1.0 / step, "lr": 1e-4})
    logger.log(2, {"val_near_black": 0.0, "val_pixel_std": 0.2})
    write_video(torch.zeros(3, 3, 8, 8), tmp_path / "validation" / "step-00000002" / "00-a-ball-seed0.mp4")
    (tmp_path / "config.yaml").write_text("teacher:\n  kind: tiny_modelscope\n")

    page = write_run_report(tmp_path).read_text()
    assert (tmp_path / "report" / "loss_cd.png").stat().st_size > 1000
    assert '<img src="report/loss_cd.png"' in page
    assert 'src="validation/step-00000002/00-a-ball-seed0.mp4"' in page
    assert "val_near_black 0" in page and "tiny_modelscope" in page
    assert "<td>loss_cd</td><td>0.333333</td>" in page
