"""The run folder (issue 8): one module for its layout, shared by the trainer and the sampler; a format
version, so that resuming or sampling a run of another version fails with both versions named."""

import json

import pytest

from mcm.config.load import load_config
from mcm.runs.folder import FORMAT_VERSION, RUN_INFO, format_version
from mcm.sampler.student import load_student
from mcm.trainer.trainer import Trainer

STEPS = ["optim.max_steps=2", "train.validate_every=0", "train.checkpoint_every=1"]


@pytest.fixture
def finished_run(tmp_path):
    run = tmp_path / "run"
    assert Trainer(load_config("tiny", STEPS), run).train() == "done"
    return run


def test_a_run_folder_records_its_format_version(finished_run):
    assert format_version(finished_run) == FORMAT_VERSION
    teacher, cfg = load_student(finished_run)  # the sampler reads what the trainer wrote
    assert cfg.optim.max_steps == 2


def test_resuming_or_sampling_a_run_of_another_version_names_both_versions(finished_run):
    (finished_run / RUN_INFO).write_text(json.dumps({"format_version": FORMAT_VERSION - 1}))
    both = rf"format version {FORMAT_VERSION - 1}.*format version {FORMAT_VERSION}"
    with pytest.raises(ValueError, match=both):
        Trainer(load_config("tiny", [*STEPS, "optim.max_steps=3"]), finished_run, resume=True)
    with pytest.raises(ValueError, match=both):
        load_student(finished_run)
    (finished_run / RUN_INFO).unlink()  # folders written before run.json existed are version 1
    with pytest.raises(ValueError, match=rf"format version 1.*format version {FORMAT_VERSION}"):
        Trainer(load_config("tiny", [*STEPS, "optim.max_steps=3"]), finished_run, resume=True)
