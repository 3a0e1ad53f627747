"""Fixtures of the components' tests: kfp.local on tiny data, inputs supplied through ``dsl.importer``.

Each component's kfp.local test runs the component alone in a small pipeline whose input artifacts are imported
from folders an earlier component's test wrote (session fixtures chain them: world -> shards -> images ->
student -> export -> repository), so every component runs under kfp.local exactly once here, on the tiny
parameters (pipelines/params_tiny.yaml); the whole pipeline runs in tests/pipeline/test_local_run.py.
"""


import os
import warnings
from pathlib import Path

import pytest

from pipelines.params import REPO, TINY, load_params

#: Tiny parameters of the embedded default (params.yaml + pipelines/params_tiny.yaml).
PARAMS = load_params(overlays=[TINY])


def _init_local(root: Path) -> None:
    from kfp import local

    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)
    warnings.filterwarnings("ignore", message=r".*(have no effect in the current local runner|non-Python base image)")
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(root), raise_on_error=True)


@pytest.fixture(scope="session")
def workdir(tmp_path_factory) -> Path:
    """The working folder the steps run in (relative paths of params.yaml resolve here; assets/ is the repo's)."""
    work = tmp_path_factory.mktemp("components")
    (work / "assets").symlink_to(REPO / "assets")
    old = os.getcwd()
    os.chdir(work)
    _init_local(work / "kfp-root")
    yield work
    os.chdir(old)


@pytest.fixture
def kfp_local(workdir):
    """kfp.local ready to run (SubprocessRunner in this environment, outputs under the session's workdir)."""
    os.chdir(workdir)
    _init_local(workdir / "kfp-root")
    return workdir


def run_pipeline(pipeline_func, **kwargs):
    """Run a (small) pipeline under kfp.local; its outputs (artifacts have ``.path``)."""
    return pipeline_func(**kwargs)


@pytest.fixture(scope="session")
def world_dir(workdir) -> Path:
    """The tiny world, written by the world component under kfp.local (its test asserts on it)."""
    from kfp import dsl

    from components.world.component import generate_world

    @dsl.pipeline
    def p() -> dsl.Dataset:
        return generate_world(config=PARAMS["world"]).outputs["world"]

    return Path(run_pipeline(p).output.path)


@pytest.fixture(scope="session")
def video_shards(world_dir) -> dict:
    """The world's videos prepared in two shard groups (ParallelFor) and merged: the prep and merge components."""

    from kfp import dsl
    from kfp.dsl import Dataset

    from components.merge_shards.component import merge_video_shards
    from components.prep_videos.component import prepare_videos

    @dsl.pipeline
    def p() -> Dataset:
        world = dsl.importer(artifact_uri=str(world_dir), artifact_class=Dataset, reimport=False)
        with dsl.ParallelFor([0, 1]) as group:
            prep = prepare_videos(world=world.output, config=PARAMS["data_videos"], group=group, num_groups=2)
        return merge_video_shards(world=world.output, groups=dsl.Collected(prep.outputs["shards"]),
                                  config=PARAMS["data_videos"]).outputs["videos"]

    merged = Path(run_pipeline(p).output.path)
    groups = sorted(merged.parents[1].glob("for-loop-*/prepare-videos/shards"))
    return {"merged": merged, "groups": groups}


@pytest.fixture(scope="session")
def image_shards(world_dir) -> Path:
    from kfp import dsl
    from kfp.dsl import Dataset

    from components.filter_images.component import filter_images

    @dsl.pipeline
    def p() -> Dataset:
        world = dsl.importer(artifact_uri=str(world_dir), artifact_class=Dataset, reimport=False)
        return filter_images(world=world.output, config=PARAMS["data_images"]).outputs["images"]

    return Path(run_pipeline(p).output.path)


@pytest.fixture(scope="session")
def student(video_shards, image_shards, workdir) -> Path:
    """The tiny student: the distill component (backend local, in the step) on the merged and filtered shards."""
    from kfp import dsl
    from kfp.dsl import Dataset, Model

    from components.distill.component import distill

    @dsl.pipeline
    def p() -> Model:
        videos = dsl.importer(artifact_uri=str(video_shards["merged"]), artifact_class=Dataset, reimport=False)
        images = dsl.importer(artifact_uri=str(image_shards), artifact_class=Dataset, reimport=False)
        return distill(videos=videos.output, images=images.output, config=PARAMS["distill"], backend="local",
                       run_dir=str(workdir / "runs/tiny"), local_nproc=1, run_id="test", cluster=PARAMS["cluster"],
                       trainer_image="unused").outputs["model"]

    return Path(run_pipeline(p).output.path)


@pytest.fixture(scope="session")
def exported(student) -> Path:
    from kfp import dsl
    from kfp.dsl import Model

    from components.export.component import export_student

    @dsl.pipeline
    def p() -> Model:
        model = dsl.importer(artifact_uri=str(student), artifact_class=Model, reimport=False)
        return export_student(model=model.output, config=PARAMS["export"]).outputs["exported"]

    return Path(run_pipeline(p).output.path)


@pytest.fixture(scope="session")
def published(exported, workdir) -> dict:
    from kfp import dsl
    from kfp.dsl import Artifact, Model

    from components.publish.component import publish_model

    target = workdir / "serving/repository"

    @dsl.pipeline
    def p() -> Artifact:
        export = dsl.importer(artifact_uri=str(exported), artifact_class=Model, reimport=False)
        return publish_model(exported=export.output, config=PARAMS["serve"], target=str(target), namespace="",
                             restart="").outputs["repository"]

    return {"repository": Path(run_pipeline(p).output.path), "target": target}
