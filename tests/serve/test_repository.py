"""The generated Triton model repository, without a server: configs per backend, the bounded queue, the
schedules the pipeline models run (equal to diffusers' LCMScheduler and mcm's trailing DDIM), and its errors."""

import json

import pytest
import torch
from diffusers import LCMScheduler

from mcm.serve.repository import RepositoryConfig, build_repository, ddim_schedule, lcm_schedule

SCHEDULE = {"num_train_timesteps": 1000, "beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "scaled_linear"}


@pytest.fixture
def export_dir(tmp_path):
    """What `mcm export` writes, with stand-in graph files (the repository copies them, never runs them)."""
    out = tmp_path / "export"
    (out / "onnx").mkdir(parents=True)
    for name in ("text_encoder", "unet", "vae_decoder", "teacher_unet"):
        (out / "onnx" / f"{name}.onnx").write_bytes(b"graph " + name.encode())
    unet_inputs = {"sample": [None, 4, 8, 4, 4], "timestep": [None], "text_states": [None, 16, 64]}
    parts = {"frames": 8, "height": 32, "width": 32, "vae_scaling_factor": 0.18215, "schedule": SCHEDULE,
             "parts": {"text_encoder": {"file": "text_encoder.onnx", "inputs": {"input_ids": [None, 16]}},
                       "unet": {"file": "unet.onnx", "inputs": unet_inputs},
                       "vae_decoder": {"file": "vae_decoder.onnx", "inputs": {"latents": [None, 4, 4, 4]}}},
             "teacher_unet": {"file": "teacher_unet.onnx", "guidance": 3.0}}
    (out / "onnx" / "parts.json").write_text(json.dumps(parts))
    LCMScheduler(**SCHEDULE, original_inference_steps=20, timestep_scaling=10.0).save_pretrained(out / "scheduler")
    (out / "tokenizer").mkdir()
    (out / "tokenizer" / "tokenizer.json").write_text("{}")
    return out


def test_python_backend_repository(export_dir, tmp_path):
    repo = build_repository(export_dir, tmp_path / "repo", RepositoryConfig(max_batch=4, max_queue_size=6))
    assert sorted(p.name for p in repo.iterdir()) == ["student", "teacher", "teacher_unet", "text_encoder", "unet",
                                                       "vae_decoder"]
    student = (repo / "student" / "config.pbtxt").read_text()
    assert 'backend: "python"' in student and "max_batch_size: 4" in student
    assert "max_queue_size: 6" in student  # the bounded queue: a full one answers UNAVAILABLE
    assert 'name: "FRAMES", data_type: TYPE_INT32, dims: [ 1 ], optional: true' in student
    assert "GUIDANCE" not in student and "GUIDANCE" in (repo / "teacher" / "config.pbtxt").read_text()
    vae = (repo / "vae_decoder" / "config.pbtxt").read_text()
    assert "max_batch_size: 32" in vae  # 4 videos x 8 frames
    assert "max_batch_size: 8" in (repo / "teacher_unet" / "config.pbtxt").read_text()  # cond + uncond
    unet = (repo / "unet" / "config.pbtxt").read_text()
    assert 'name: "timestep", data_type: TYPE_INT64, dims: [ 1 ], reshape: { shape: [ ] }' in unet
    assert (repo / "unet" / "1" / "model.onnx").read_bytes() == b"graph unet"
    assert (repo / "unet" / "1" / "model.py").is_file()
    for name in ("student", "teacher"):
        assert (repo / name / "1" / "pipeline_common.py").is_file() and (repo / name / "1" / "tokenizer").is_dir()
    settings = json.loads((repo / "student" / "1" / "schedule.json").read_text())
    assert sorted(map(int, settings["steps"])) == list(range(1, 9)) and settings["latent_shape"] == [4, 8, 4, 4]
    teacher = json.loads((repo / "teacher" / "1" / "schedule.json").read_text())
    assert len(teacher["steps"]) == 50 and teacher["guidance_default"] == 3.0
    assert settings["latency_buckets_s"] == teacher["latency_buckets_s"] == list(RepositoryConfig().latency_buckets_s)


def test_production_backends_and_batching_off(export_dir, tmp_path):
    ort = build_repository(export_dir, tmp_path / "ort", RepositoryConfig(backend="onnxruntime"))
    assert 'platform: "onnxruntime_onnx"' in (ort / "unet" / "config.pbtxt").read_text()
    assert not (ort / "unet" / "1" / "model.py").exists() and (ort / "unet" / "1" / "model.onnx").is_file()
    trt = build_repository(export_dir, tmp_path / "trt", RepositoryConfig(backend="tensorrt"))
    assert 'platform: "tensorrt_plan"' in (trt / "unet" / "config.pbtxt").read_text()
    assert (trt / "unet" / "1" / "unet.onnx").is_file()  # model.plan is built at deploy time (images/serve)
    off = build_repository(export_dir, tmp_path / "off", RepositoryConfig(dynamic_batching=False))
    assert "dynamic_batching" not in (off / "student" / "config.pbtxt").read_text()


def test_schedules_equal_the_samplers(export_dir):
    lcm = LCMScheduler.from_pretrained(export_dir / "scheduler")
    four = lcm_schedule(lcm, 4)
    lcm.set_timesteps(4)
    assert four["timesteps"] == [int(t) for t in lcm.timesteps]
    c_skip, c_out = lcm.get_scalings_for_boundary_condition_discrete(lcm.timesteps[0])
    assert (four["c_skip"][0], four["c_out"][0]) == (float(c_skip), float(c_out))
    assert four["alpha_prev"][-1] == four["alpha"][-1]  # the last step returns the denoised sample
    ddim = ddim_schedule(SCHEDULE, 4)
    assert ddim["timesteps"] == [999, 749, 499, 249]  # trailing spacing: every step count starts at T - 1
    assert ddim["alpha_prev"][-1] == 1.0 and ddim["alpha_prev"][:3] == ddim["alpha"][1:]
    abar = torch.cumprod(1 - torch.linspace(0.00085**0.5, 0.012**0.5, 1000, dtype=torch.float64) ** 2, 0).float()
    assert ddim["alpha"][0] == pytest.approx(float(abar[999]), rel=1e-4)  # the teacher's abar at t = 999


def test_errors_name_the_problem(export_dir, tmp_path):
    with pytest.raises(ValueError, match="backend='triton'"):
        RepositoryConfig(backend="triton")
    with pytest.raises(ValueError, match="max_queue_size=0"):
        RepositoryConfig(max_queue_size=0)
    with pytest.raises(ValueError, match=r"latency_buckets_s=\[1.0, 0.5\] must be non-empty and increasing"):
        RepositoryConfig(latency_buckets_s=(1, 0.5))
    with pytest.raises(FileNotFoundError, match="run `mcm export"):
        build_repository(tmp_path / "nothing", tmp_path / "repo")


def test_cli_flags_reach_the_repository_and_unset_ones_keep_the_defaults(export_dir, tmp_path, capsys):
    from mcm.cli.main import main

    assert main(["serve", "repository", "--export", str(export_dir), "--out", str(tmp_path / "repo"),
                 "--max-batch", "2", "--latency-buckets", "0.5,2,8"]) == 0
    student = (tmp_path / "repo" / "student" / "config.pbtxt").read_text()
    assert "max_batch_size: 2" in student and "max_queue_size: 16" in student  # the second: RepositoryConfig's
    assert "part backend python" in capsys.readouterr().out
    assert 'backend: "python"' in (tmp_path / "repo" / "unet" / "config.pbtxt").read_text()  # the default backend
    settings = json.loads((tmp_path / "repo" / "student" / "1" / "schedule.json").read_text())
    assert settings["latency_buckets_s"] == [0.5, 2.0, 8.0]
    with pytest.raises(SystemExit):
        main(["serve", "repository", "--export", str(export_dir), "--out", str(tmp_path / "r2"),
              "--latency-buckets", "fast"])
    assert "'fast' is not a comma-separated list of seconds" in capsys.readouterr().err
