"""--config/--section/--set of the YAML-configured verbs (data, world)."""

import pytest

from mcm.cli.yaml_args import apply_sets, load_section


def test_section_and_dotted_sets(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("world:\n  out: data/world\n  seed: 3\nother: 1\n")
    data = apply_sets(load_section(str(path), "world"), ["num_videos=8", "teacher.steps=10", "crf='20'"])
    assert data == {"out": "data/world", "seed": 3, "num_videos": 8, "teacher": {"steps": 10}, "crf": "20"}
    assert load_section(None, "world") == {}


def test_errors_name_the_problem(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("world:\n  seed: 3\n")
    with pytest.raises(ValueError, match="no key 'videos'"):
        load_section(str(path), "videos")
    with pytest.raises(ValueError, match="expected key=value"):
        apply_sets({}, ["seed"])
