"""Smoke-test the served student: one request through the inference service (or, under kfp.local, a Triton server
started on the published repository), checked for shape and content."""

from kfp import dsl
from kfp.dsl import Artifact, Input, Metrics, Output

from components.images import image


@dsl.component(base_image=image("smoke"), install_kfp_package=False)
def smoke_test(repository: Input[Artifact], config: dict, url: str, metrics: Output[Metrics]):
    """One request (params.yaml ``pipeline.smoke``: prompt, steps, seed) to ``url`` (empty: a local server)."""
    from components.smoke_test.check import smoke

    for key, value in smoke(config, url=url, repository=repository.path).items():
        metrics.log_metric(key, value)
