"""The layout of components/ (no kfp.local run): every component folder has the files of Kubeflow's
pipelines-components layout (``metadata.yaml``, ``README.md``, ``tests/test_*.py``). Its metadata parses, has the
required keys, names the folder's component, and names the step image the component actually uses. Its README
mentions, in backticks, every input and output of the component's signature.

The checks live in plain functions (:func:`layout_problems`, :func:`readme_missing`), and the last tests run them on
broken copies of a folder, so the checks are shown to fail when a file or a mention is missing."""

from __future__ import annotations

import datetime
import importlib
import re
import shutil
from pathlib import Path
from typing import Any, Iterable

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
COMPONENTS = REPO / "components"
EXPECTED = {"world", "prep_videos", "merge_shards", "filter_images", "distill", "evaluate", "export", "publish",
            "smoke_test", "cleanup"}
REQUIRED_KEYS = ("name", "description", "stability", "dependencies", "tags", "lastVerified", "image")
STABILITY = {"alpha", "beta", "stable"}


def component_folders() -> set[str]:
    """The folders under components/ that define a component (hold a component.py)."""
    return {p.parent.name for p in COMPONENTS.glob("*/component.py")}


def image_steps() -> set[str]:
    table = yaml.safe_load((REPO / "images" / "images.yaml").read_text(encoding="utf-8"))
    return set(table["images"])


def layout_problems(folder: Path) -> list[str]:
    """What is wrong with the files of one component folder (empty: nothing)."""
    problems = [f"{name} is missing" for name in ("component.py", "metadata.yaml", "README.md")
                if not (folder / name).is_file()]
    tests = folder / "tests"
    if not tests.is_dir() or not any(p.is_file() for p in tests.glob("test_*.py")):
        problems.append("tests/ with at least one test_*.py is missing")
    meta_path = folder / "metadata.yaml"
    if not meta_path.is_file():
        return problems
    try:
        meta = yaml.safe_load(meta_path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        return problems + [f"metadata.yaml does not parse: {err}"]
    if not isinstance(meta, dict):
        return problems + [f"metadata.yaml is not a mapping: {type(meta).__name__}"]
    problems += [f"metadata.yaml: {key} is missing or empty" for key in REQUIRED_KEYS
                 if meta.get(key) in (None, "", [], {})]
    if not isinstance(meta.get("name"), str):
        problems.append("metadata.yaml: name is not a string")
    if not isinstance(meta.get("description"), str):
        problems.append("metadata.yaml: description is not a string")
    if meta.get("stability") not in STABILITY:
        problems.append(f"metadata.yaml: stability {meta.get('stability')!r} is not one of {sorted(STABILITY)}")
    if "lastVerified" in meta and not isinstance(meta["lastVerified"], datetime.datetime):
        problems.append(f"metadata.yaml: lastVerified {meta['lastVerified']!r} is not an RFC 3339 timestamp")
    tags = meta.get("tags")
    if tags is not None and not (isinstance(tags, list) and all(isinstance(t, str) and t.strip() for t in tags)):
        problems.append("metadata.yaml: tags is not a list of non-empty strings")
    deps = meta.get("dependencies")
    kubeflow = deps.get("kubeflow") if isinstance(deps, dict) else None
    if not isinstance(kubeflow, list) or not any(isinstance(d, dict) and d.get("name") == "Pipelines"
                                                 and d.get("version") for d in kubeflow):
        problems.append("metadata.yaml: dependencies.kubeflow has no Pipelines entry with a version")
    if meta.get("image") is not None and meta["image"] not in image_steps():
        problems.append(f"metadata.yaml: image {meta['image']!r} is not a step of images/images.yaml")
    doc = (meta.get("links") or {}).get("documentation") if isinstance(meta.get("links"), dict) else None
    if isinstance(doc, str) and "://" not in doc and not (folder / doc).is_file():
        problems.append(f"metadata.yaml: links.documentation {doc!r} does not exist")
    return problems


def readme_missing(readme: str, names: Iterable[str]) -> list[str]:
    """The names that the README text does not mention in backticks (`name`)."""
    return [n for n in names if not re.search(r"`" + re.escape(n) + r"`", readme)]


def _metadata(folder: str) -> dict[str, Any]:
    return yaml.safe_load((COMPONENTS / folder / "metadata.yaml").read_text(encoding="utf-8"))


def _component(folder: str):
    """The kfp component that the folder's metadata names, from the folder's component.py."""
    module = importlib.import_module(f"components.{folder}.component")
    name = _metadata(folder)["name"]
    comp = getattr(module, name, None)
    assert comp is not None, f"components/{folder}/component.py defines no {name!r} (metadata.yaml name)"
    assert hasattr(comp, "component_spec"), f"components.{folder}.component.{name} is not a kfp component"
    func = getattr(comp, "python_func", None)
    if func is not None:  # defined in that module, not imported from another folder
        assert func.__module__ == module.__name__, f"{name} is defined in {func.__module__}, not {module.__name__}"
    return comp


FOLDERS = sorted(component_folders() | EXPECTED)


def test_component_folders_are_the_expected_ten():
    assert component_folders() == EXPECTED
    for name in EXPECTED:
        assert (COMPONENTS / name).is_dir(), f"components/{name} is missing"


@pytest.mark.parametrize("folder", FOLDERS)
def test_folder_has_metadata_readme_and_tests(folder):
    problems = layout_problems(COMPONENTS / folder)
    assert not problems, f"components/{folder}: " + "; ".join(problems)


@pytest.mark.parametrize("folder", FOLDERS)
def test_metadata_names_the_folders_component_and_its_image(folder):
    from components.images import image

    comp = _component(folder)
    step = _metadata(folder)["image"]
    assert comp.component_spec.implementation.container.image == image(step), \
        f"components/{folder}: metadata image {step!r} is not the component's base image"


@pytest.mark.parametrize("folder", FOLDERS)
def test_readme_mentions_every_input_and_output(folder):
    spec = _component(folder).component_spec
    names = [*(spec.inputs or {}), *(spec.outputs or {})]
    assert names, f"components/{folder}: the component has neither inputs nor outputs"
    missing = readme_missing((COMPONENTS / folder / "README.md").read_text(encoding="utf-8"), names)
    assert not missing, f"components/{folder}/README.md does not mention {missing}"


# The checks themselves can fail: broken copies of a real folder.


def _copy(folder: str, to: Path) -> Path:
    dst = to / folder
    shutil.copytree(COMPONENTS / folder, dst, ignore=shutil.ignore_patterns("__pycache__"))
    return dst


@pytest.mark.parametrize("missing", ["metadata.yaml", "README.md", "component.py", "tests/test_world.py"])
def test_layout_check_fails_when_a_file_is_missing(tmp_path, missing):
    assert layout_problems(_copy("world", tmp_path / "intact")) == []
    broken = _copy("world", tmp_path / "broken")
    (broken / missing).unlink()
    assert layout_problems(broken), f"a folder without {missing} passed"


@pytest.mark.parametrize("edit", ["drop-key", "bad-stability", "no-pipelines", "bad-image", "not-yaml"])
def test_layout_check_fails_on_bad_metadata(tmp_path, edit):
    folder = _copy("distill", tmp_path)
    meta = _metadata("distill")
    if edit == "drop-key":
        del meta["lastVerified"]
    elif edit == "bad-stability":
        meta["stability"] = "experimental"
    elif edit == "no-pipelines":
        meta["dependencies"]["kubeflow"] = [d for d in meta["dependencies"]["kubeflow"] if d["name"] != "Pipelines"]
    elif edit == "bad-image":
        meta["image"] = "no-such-step"
    text = "name: [unclosed\n" if edit == "not-yaml" else yaml.safe_dump(meta)
    (folder / "metadata.yaml").write_text(text, encoding="utf-8")
    assert layout_problems(folder), f"metadata edit {edit!r} passed"


def test_readme_check_fails_when_a_name_is_not_mentioned():
    readme = (COMPONENTS / "publish" / "README.md").read_text(encoding="utf-8")
    names = ["exported", "config", "target", "namespace", "restart", "repository"]
    assert readme_missing(readme, names) == []
    assert readme_missing(readme.replace("`restart`", "restart"), names) == ["restart"]
