import pytest
import yaml

from mcm.config.schema import MCMConfig
from mcm.config.load import config_to_yaml, load_config, preset_names


@pytest.mark.parametrize("name", preset_names())
def test_every_preset_validates_against_the_schema(name):
    cfg = load_config(name)
    assert isinstance(cfg, MCMConfig)
    # The YAML of a resolved config loads back to the same config.
    assert MCMConfig.model_validate(yaml.safe_load(config_to_yaml(cfg))) == cfg


def test_paper_defaults():
    cfg = MCMConfig()
    assert (cfg.student.lora_rank, cfg.student.lora_alpha) == (64, 64.0)
    assert cfg.distill.num_ddim_timesteps == 50 and cfg.distill.lambda_real == 0.5 and cfg.distill.lambda_adv == 1.0
    assert cfg.distill.timestep_scaling == 4.0 and cfg.distill.huber_c == 0.001
    assert cfg.optim.lr == 5e-6 and cfg.optim.weight_decay == 0.0 and cfg.optim.grad_clip == 10.0
    assert cfg.optim.warmup_steps == 500 and cfg.optim.max_steps == 30000
    assert (cfg.teacher.guidance_min, cfg.teacher.guidance_max) == (5.0, 15.0)
    ad = load_config("animatediff")
    assert (ad.teacher.guidance_min, ad.teacher.guidance_max, ad.teacher.beta_schedule) == (7.0, 8.0, "linear")


def test_small_preset_shape():
    cfg = load_config("small")
    assert tuple(cfg.teacher.tiny.block_out_channels) == (32, 64) and cfg.teacher.tiny.layers_per_block == 2
    scale = 2 ** (len(cfg.teacher.tiny.vae_block_out_channels) - 1)
    assert cfg.data.num_frames == 8 and cfg.data.height // scale == 32 and cfg.data.width // scale == 32


def test_overrides_use_dotted_keys_and_yaml_values():
    cfg = load_config("tiny", ["optim.lr=0.01", "distill.lambda_real=0", "train.validation_seeds=[1, 2]"])
    assert cfg.optim.lr == 0.01 and cfg.distill.lambda_real == 0.0 and cfg.train.validation_seeds == [1, 2]


def test_yaml_file_with_base(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("base: tiny\noptim:\n  max_steps: 7\n")
    cfg = load_config(str(path))
    assert cfg.optim.max_steps == 7 and cfg.teacher.kind == "tiny_modelscope"


@pytest.mark.parametrize(
    "overrides, field",
    [
        (["teacher.kind=sdxl"], "teacher.kind"),
        (["distill.lambda_real=1.5"], "distill.lambda_real"),
        (["distill.lambda_real=-0.1"], "distill.lambda_real"),
        (["sample.steps=0"], "sample.steps"),
        (["optim.global_batch=0"], "optim.global_batch"),
        (["optim.nonsense=1"], "optim.nonsense"),
        (["data.source=csv"], "data.path"),
        (["teacher.guidance_min=9", "teacher.guidance_max=8"], "teacher.guidance_max"),
    ],
)
def test_invalid_values_name_the_field(overrides, field):
    with pytest.raises(ValueError, match=field.replace(".", r"\.")):
        load_config("tiny", overrides)


def test_missing_yaml_file_is_named(tmp_path):
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ValueError, match="nope.yaml"):
        load_config(str(missing))


def test_missing_teacher_folder_fails_at_start(tmp_path):
    from mcm.teachers.registry import load_teacher

    cfg = load_config("modelscope", [f"teacher.path={tmp_path / 'absent'}"])
    with pytest.raises((ValueError, OSError), match="absent"):
        load_teacher(cfg.teacher)


def test_loading_a_config_does_not_import_torch():
    import subprocess
    import sys

    code = "import sys, mcm.config.load; mcm.config.load.load_config('mcm_tiny'); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"  # `mcm config show` stays instant; motion/discriminator exports are lazy
