"""The publish component: unit (a folder target is replaced whole; an fsspec URL target gets the same tree) and
kfp.local (the Triton model repository of the export, copied to the serving store)."""

import filecmp

from components.publish.copy import publish_folder


def _tree(tmp_path, name, files):
    root = tmp_path / name
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def test_folder_target_is_replaced_whole(tmp_path):
    old = _tree(tmp_path, "store/repository", {"student/1/model.py": "old", "stale/config.pbtxt": "x"})
    new = _tree(tmp_path, "new", {"student/1/model.py": "new"})
    publish_folder(str(new), str(old))
    assert (old / "student/1/model.py").read_text() == "new" and not (old / "stale").exists()
    assert sorted(p.name for p in old.parent.iterdir()) == ["repository"]  # no staging folders left


def test_fsspec_url_target(tmp_path):
    src = _tree(tmp_path, "new", {"student/config.pbtxt": "a", "student/1/model.py": "b"})
    publish_folder(str(src), f"file://{tmp_path}/bucket/models")
    assert (tmp_path / "bucket/models/student/1/model.py").read_text() == "b"


def test_publish_component_writes_the_model_repository(published):
    repo, target = published["repository"], published["target"]
    for model in ("student", "teacher"):
        assert (repo / model / "config.pbtxt").is_file()
    config = (repo / "student/config.pbtxt").read_text()  # params.yaml serve: max_batch 8, max_queue_size 16
    assert "max_batch_size: 8" in config and "max_queue_size: 16" in config
    assert not filecmp.dircmp(repo, target).diff_files and sorted(p.name for p in target.iterdir()) == \
        sorted(p.name for p in repo.iterdir())
