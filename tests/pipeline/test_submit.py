"""`make pipeline-run` with KFP_HOST set: `python -m pipelines.run` compiles the cluster pipeline and submits it
through the real kfp.Client to a fake Kubeflow Pipelines API server (a real HTTP server speaking the v2beta1 REST
API the client calls): the experiment in the configured namespace, the run with the compiled spec and the
pipeline's service account, the token from the environment on every request, and the run's URL printed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest
import yaml

from components.images import image
from pipelines.params import REPO, load_params

TOKEN = "token-from-the-environment"
RUN_ID = "run-42"
EXPERIMENT_ID = "experiment-7"


class FakeKfpApi:
    """Records every request; answers: no experiment of that name yet, the created experiment, the created run."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # quiet
                pass

            def answer(self, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def record(self) -> dict:
                length = int(self.headers.get("Content-Length") or 0)
                url = urlparse(self.path)
                request = {"method": self.command, "path": url.path, "query": parse_qs(url.query),
                           "auth": self.headers.get("Authorization"),
                           "body": json.loads(self.rfile.read(length)) if length else None}
                api.requests.append(request)
                return request

            def do_GET(self) -> None:
                request = self.record()
                if request["path"] == "/apis/v2beta1/experiments":
                    return self.answer({})  # none with that name: the client creates it
                if request["path"] == "/apis/v2beta1/healthz":
                    return self.answer({"multi_user": True})
                self.send_error(404)

            def do_POST(self) -> None:
                request = self.record()
                if request["path"] == "/apis/v2beta1/experiments":
                    return self.answer({**request["body"], "experiment_id": EXPERIMENT_ID})
                if request["path"] == "/apis/v2beta1/runs":
                    return self.answer({**request["body"], "run_id": RUN_ID, "state": "PENDING"})
                self.send_error(404)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> "FakeKfpApi":
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def find(self, method: str, path: str) -> list[dict]:
        return [r for r in self.requests if r["method"] == method and r["path"] == path]


@pytest.fixture(scope="module")
def submitted(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("submit")
    env = {**os.environ, "KFP_TOKEN": TOKEN, "KFP_NAMESPACE": "team-a", "HOME": str(tmp_path),  # no kfp context
           "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    with FakeKfpApi() as api:
        env["KFP_HOST"] = api.url
        done = subprocess.run([sys.executable, "-m", "pipelines.run", "--pipeline-root", str(tmp_path / "root")],
                              cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return api, done.stdout + done.stderr, tmp_path / "root" / "mcm-pipeline.yaml"


def test_submit_creates_the_experiment_and_the_run_and_prints_its_url(submitted):
    api, output, package = submitted
    assert f"submitted: {api.url}/#/runs/details/{RUN_ID}" in output
    listed = api.find("GET", "/apis/v2beta1/experiments")
    assert listed and listed[0]["query"]["namespace"] == ["team-a"]  # KFP_NAMESPACE wins over params.yaml
    assert '"stringValue": "mcm"' in listed[0]["query"]["filter"][0]
    (created,) = api.find("POST", "/apis/v2beta1/experiments")
    assert created["body"]["display_name"] == "mcm" and created["body"]["namespace"] == "team-a"
    (run,) = api.find("POST", "/apis/v2beta1/runs")
    body = run["body"]
    assert body["experiment_id"] == EXPERIMENT_ID and body["display_name"].startswith("mcm-")
    assert body["service_account"] == load_params()["cluster"]["service_account"]
    spec, platform = yaml.safe_load_all(package.read_text())  # what was compiled is what was sent
    assert body["pipeline_spec"]["pipeline_spec"] == spec
    assert body["pipeline_spec"]["platform_spec"] == platform
    executors = spec["deploymentSpec"]["executors"]
    assert executors["exec-distill"]["container"]["image"] == image("distill")  # the cluster variant's images


def test_the_token_comes_from_the_environment_and_never_leaves_it_except_as_a_header(submitted):
    api, output, package = submitted
    assert api.requests and all(r["auth"] == f"Bearer {TOKEN}" for r in api.requests)
    assert TOKEN not in output and TOKEN not in package.read_text()
