"""Two lanes for `make test` (pytest-xdist, ``-n 2``): serially the suite used one of the machine's two cores.

Each lane is one xdist scope, so it runs in one worker, in collection order, and a test never runs beside another
of its own lane:

* ``isolated``: tests that work only in their own temporary folders: the pipeline's (components, the kfp.local
  pipeline, TrainJob, DVC, images and manifests) and a few long self-contained library tests, listed to balance
  the lanes;
* ``checkout``: the rest, in the order and on the shared checkout they were written for (the CLI tests run in the
  repository and write under it).

A scheduler hook rather than ``xdist_group`` marks: xdist 3.8 applies those marks by renaming ``item._nodeid``,
which pytest 9.2 no longer reads, so ``--dist loadgroup`` silently spreads every test. Both lanes keep one torch
thread (OMP_NUM_THREADS=1). Without xdist (plain ``pytest``) nothing here applies.
"""

import pytest

#: The isolated lane: folders or files relative to the repository root (pytest's rootdir).
ISOLATED_LANE = (
    "components", "tests/pipeline", "tests/pipeline_dvc", "tests/pipeline_trainjob", "tests/deploy",
    "tests/world/test_toy_distillation.py",     # tmp_path only (~90 s)
    "tests/distill/test_analytic_teacher.py",   # in-process, tmp_path only (~80 s)
)


def lane(nodeid: str) -> str:
    """The lane of a test, from its node id (``tests/x/test_y.py::test_z[param]``)."""
    path = nodeid.split("::", 1)[0]
    return "isolated" if any(path == p or path.startswith(p + "/") for p in ISOLATED_LANE) else "checkout"


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    from xdist.scheduler import LoadScopeScheduling

    class LaneScheduling(LoadScopeScheduling):
        """One scope per lane: each lane goes whole to one worker."""

        def _split_scope(self, nodeid: str) -> str:
            return lane(nodeid)

    return LaneScheduling(config, log)
