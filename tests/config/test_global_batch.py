"""Issue 8, defect 9: the global batch is a config field (the paper's 128); the accumulation follows from it."""

import pytest

from mcm.config.load import load_config
from mcm.config.schema import gradient_accumulation_steps


def test_global_batch_sets_the_accumulation_and_names_the_three_numbers():
    assert gradient_accumulation_steps(128, 32, 4) == 1
    assert gradient_accumulation_steps(128, 32, 1) == 4
    assert gradient_accumulation_steps(128, 1, 2) == 64
    with pytest.raises(ValueError, match=r"global_batch=128.*world size 3.*batch_size=2"):
        gradient_accumulation_steps(128, 3, 2)


def test_the_gpu_presets_reach_128_on_4_nodes_of_8_gpus():
    for preset in ("modelscope", "animatediff"):
        cfg = load_config(preset)
        assert cfg.optim.global_batch == 128
        accum = gradient_accumulation_steps(cfg.optim.global_batch, 4 * 8, cfg.data.batch_size)
        assert accum * 4 * 8 * cfg.data.batch_size == 128
