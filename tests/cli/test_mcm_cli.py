import contextlib
import io
import types

import pytest
import yaml

from mcm.sampler.video_io import read_mp4


@pytest.fixture
def cli():
    """``mcm ARGS`` in this process (``mcm.cli.main.main``; seconds of interpreter and torch start-up saved per
    call); the real entry point as a subprocess is tested by test_config_show_as_a_subprocess."""
    from mcm.cli.main import main

    def run(*args: str, check: bool = True):
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            rc = main(list(args))
        proc = types.SimpleNamespace(returncode=rc, stdout=out.getvalue(), stderr=err.getvalue())
        if check and rc != 0:
            raise AssertionError(f"mcm {' '.join(args)} failed ({rc}):\n{proc.stdout}\n{proc.stderr}")
        return proc

    return run


def test_config_show_as_a_subprocess(subprocess_cli):
    out = subprocess_cli("config", "show", "tiny", "--set", "optim.lr=0.5").stdout
    assert yaml.safe_load(out)["optim"]["lr"] == 0.5


def test_config_show_prints_the_resolved_yaml(cli):
    out = cli("config", "show", "tiny", "--set", "distill.lambda_real=0.25", "--set", "optim.lr=0.5").stdout
    data = yaml.safe_load(out)
    assert data["distill"]["lambda_real"] == 0.25 and data["optim"]["lr"] == 0.5
    assert data["teacher"]["kind"] == "tiny_modelscope" and data["distill"]["timestep_scaling"] == 4.0


def test_bad_values_exit_2_naming_the_field(cli):
    proc = cli("config", "show", "tiny", "--set", "distill.lambda_real=3", check=False)
    assert proc.returncode == 2 and "distill.lambda_real" in proc.stderr
    proc = cli("distill", "--config", "tiny", "--max-steps", "0", "--output", "/nonexistent/x", check=False)
    assert proc.returncode == 2 and "--max-steps" in proc.stderr
    proc = cli("sample", "--checkpoint", "/nonexistent/run", "--prompt", "x", "--out", "/tmp/x.mp4", check=False)
    assert proc.returncode == 2 and "/nonexistent/run" in proc.stderr


def test_distill_then_sample_from_run_folder_export_and_teacher(cli, tmp_path):
    run = tmp_path / "run"
    out = cli("distill", "--config", "tiny", "--output", str(run), "--max-steps", "2",
              "--set", "train.validate_every=2", "--set", "train.checkpoint_every=1",
              "--set", "train.save_merged=true").stdout
    assert "done" in out
    saved = yaml.safe_load((run / "config.yaml").read_text())
    assert saved["optim"]["max_steps"] == 2 and saved["distill"]["timestep_scaling"] == 4.0
    assert list((run / "validation" / "step-00000002").glob("*.mp4"))
    metrics = [l for l in (run / "metrics.jsonl").read_text().splitlines() if "loss_cd" in l]
    assert metrics and (run / "metrics.prom").read_text().count("mcm_train_loss_cd") >= 1

    for source, name in ((run, "run.mp4"), (run / "final", "final.mp4")):
        cli("sample", "--checkpoint", str(source), "--prompt", "a red ball", "--steps", "2", "--frames", "4",
            "--seed", "3", "--out", str(tmp_path / name))
    a, b = read_mp4(tmp_path / "run.mp4"), read_mp4(tmp_path / "final.mp4")
    assert a.shape == (4, 3, 16, 16)
    assert (a.float() - b.float()).abs().max() <= 2  # same student, same seed (codec rounding aside)

    # The merged diffusers-format student equals the base network + adapter.
    import torch
    from diffusers import UNet3DConditionModel

    from mcm.sampler.student import load_student

    student, _ = load_student(run / "final")
    merged = UNet3DConditionModel.from_pretrained(run / "final" / "merged" / "unet")
    x, t, text = torch.randn(1, 4, 3, 8, 8), torch.tensor([300]), student.encode_text(["a"])
    torch.testing.assert_close(merged(x, t, encoder_hidden_states=text).sample,
                               student.predict_noise(x, t, text), rtol=1e-4, atol=1e-4)

    cli("sample", "--teacher", "tiny", "--scheduler", "dpm++", "--steps", "3", "--guidance", "7.5",
        "--prompt", "a red ball", "--out", str(tmp_path / "teacher.gif"))
    assert (tmp_path / "teacher.gif").stat().st_size > 0
