"""A fake Kubernetes API server for TrainJobs: a real HTTP server (a thread of the test process) that serves
the custom-resource REST paths the ``kubernetes`` client calls, so that ``pipelines.kube`` is tested through the
official client and the wire, not through mocks of itself.

    POST   /apis/trainer.kubeflow.org/v1alpha1/namespaces/{ns}/trainjobs              create (409 if it exists)
    GET    /apis/trainer.kubeflow.org/v1alpha1/namespaces/{ns}/trainjobs?labelSelector  list (k=v[,k=v] selectors)
    GET    /apis/trainer.kubeflow.org/v1alpha1/namespaces/{ns}/trainjobs/{name}       read (404 if none)
    DELETE /apis/trainer.kubeflow.org/v1alpha1/namespaces/{ns}/trainjobs/{name}       delete (404 if none)

Status is scripted per job name: ``script(name, [status, status, ...])``, one list per creation of that name;
the k-th read of the job returns the k-th status (then the last one stays; the creation answers the first).
A foreground deletion sets ``deletionTimestamp`` and the object disappears after ``gone_after_reads`` more
reads, as the garbage collector would once the job's pods are gone.
"""

from __future__ import annotations

import json
import re
import threading
from collections import defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

PATH = re.compile(r"^/apis/trainer\.kubeflow\.org/v1alpha1/namespaces/(?P<ns>[^/]+)/trainjobs(?:/(?P<name>[^/]+))?$")


def condition(kind: str, reason: str, message: str) -> dict:
    return {"type": kind, "status": "True", "reason": reason, "message": message,
            "lastTransitionTime": "2026-01-01T00:00:00Z"}


PENDING: dict = {}
STARTING = {"jobsStatus": [{"name": "node", "active": 1, "ready": 0, "succeeded": 0, "failed": 0, "suspended": 0}]}
RUNNING = {"jobsStatus": [{"name": "node", "active": 1, "ready": 1, "succeeded": 0, "failed": 0, "suspended": 0}]}
COMPLETE = {"conditions": [condition("Complete", "JobsCompleted", "jobset completed successfully")],
            "jobsStatus": [{"name": "node", "active": 0, "ready": 0, "succeeded": 1, "failed": 0, "suspended": 0}]}


def failed(message: str, reason: str = "FailedJobs") -> dict:
    return {"conditions": [condition("Failed", reason, message)],
            "jobsStatus": [{"name": "node", "active": 0, "ready": 0, "succeeded": 0, "failed": 1, "suspended": 0}]}


class FakeKubeApi:
    """The server and its state. ``requests`` records (method, namespace, name, query) of every call."""

    def __init__(self, gone_after_reads: int = 1):
        self.jobs: dict[tuple[str, str], dict] = {}
        self.reads: dict[tuple[str, str], int] = defaultdict(int)
        self.scripts: dict[str, list[list[dict]]] = defaultdict(list)
        self.created: list[dict] = []  # every object created, in order
        self.requests: list[tuple[str, str, str, dict]] = []
        self.gone_after_reads = gone_after_reads
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> "FakeKubeApi":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def script(self, name: str, statuses: list[dict]) -> None:
        """The statuses successive reads of the next creation of ``name`` return."""
        with self.lock:
            self.scripts[name].append(list(statuses))

    def add(self, namespace: str, obj: dict, statuses: list[dict]) -> None:
        """An object that exists before the test starts (a previous attempt's job)."""
        with self.lock:
            obj = json.loads(json.dumps(obj))
            obj["status"] = statuses[0]
            obj["metadata"]["_script"] = statuses
            self.jobs[(namespace, obj["metadata"]["name"])] = obj
            self.reads[(namespace, obj["metadata"]["name"])] = 0

    def calls(self, method: str, name: str | None = None) -> list[tuple[str, str, str, dict]]:
        return [r for r in self.requests if r[0] == method and (name is None or r[2] == name)]

    # ---- the REST handlers (called under the lock) ----

    def _create(self, ns: str, body: dict) -> tuple[int, dict]:
        name = body["metadata"]["name"]
        if (ns, name) in self.jobs:
            return 409, _status(409, "AlreadyExists", f'trainjobs.trainer.kubeflow.org "{name}" already exists')
        obj = json.loads(json.dumps(body))
        script = self.scripts[name].pop(0) if self.scripts[name] else [PENDING]
        obj["metadata"].update(namespace=ns, uid=f"uid-{len(self.created)}", _script=script)
        obj["status"] = script[0]
        self.jobs[(ns, name)] = obj
        self.reads[(ns, name)] = 0
        self.created.append(_public(obj))
        return 201, _public(obj)

    def _read(self, ns: str, name: str) -> tuple[int, dict]:
        obj = self.jobs.get((ns, name))
        if obj is None:
            return 404, _status(404, "NotFound", f'trainjobs.trainer.kubeflow.org "{name}" not found')
        meta = obj["metadata"]
        if "deletionTimestamp" in meta:
            meta["_reads_left"] -= 1
            if meta["_reads_left"] < 0:
                del self.jobs[(ns, name)]
                return 404, _status(404, "NotFound", f'trainjobs.trainer.kubeflow.org "{name}" not found')
        else:
            script = meta["_script"]
            obj["status"] = script[min(self.reads[(ns, name)], len(script) - 1)]
            self.reads[(ns, name)] += 1
        return 200, _public(obj)

    def _list(self, ns: str, selector: str) -> tuple[int, dict]:
        wanted = dict(term.split("=", 1) for term in selector.split(",") if term)
        items = [_public(o) for (n, _), o in sorted(self.jobs.items()) if n == ns
                 and all(o["metadata"].get("labels", {}).get(k) == v for k, v in wanted.items())]
        return 200, {"apiVersion": "trainer.kubeflow.org/v1alpha1", "kind": "TrainJobList", "metadata": {},
                     "items": items}

    def _delete(self, ns: str, name: str, query: dict) -> tuple[int, dict]:
        obj = self.jobs.get((ns, name))
        if obj is None:
            return 404, _status(404, "NotFound", f'trainjobs.trainer.kubeflow.org "{name}" not found')
        if query.get("propagationPolicy") == "Foreground":
            obj["metadata"].setdefault("deletionTimestamp", "2026-01-01T00:00:01Z")
            obj["metadata"]["finalizers"] = ["foregroundDeletion"]
            obj["metadata"]["_reads_left"] = self.gone_after_reads
        else:
            del self.jobs[(ns, name)]
        return 200, _public(obj)

    def _handler(self):
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # quiet
                pass

            def _answer(self, method: str) -> None:
                url = urlsplit(self.path)
                match = PATH.match(url.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length)) if length else None
                if match is None:
                    code, out = 404, _status(404, "NotFound", f"no route {url.path}")
                else:
                    ns, name = match["ns"], match["name"]
                    with api.lock:
                        api.requests.append((method, ns, name or "", query))
                        if method == "POST" and name is None:
                            code, out = api._create(ns, body)
                        elif method == "GET" and name is None:
                            code, out = api._list(ns, query.get("labelSelector", ""))
                        elif method == "GET":
                            code, out = api._read(ns, name)
                        elif method == "DELETE" and name:
                            code, out = api._delete(ns, name, query)
                        else:
                            code, out = 405, _status(405, "MethodNotAllowed", method)
                data = json.dumps(out).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                self._answer("GET")

            def do_POST(self) -> None:
                self._answer("POST")

            def do_DELETE(self) -> None:
                self._answer("DELETE")

        return Handler


def _public(obj: dict) -> dict:
    """The object as the API returns it (without the fake's bookkeeping keys)."""
    out = json.loads(json.dumps(obj))
    out["metadata"] = {k: v for k, v in out["metadata"].items() if not k.startswith("_")}
    return out


def _status(code: int, reason: str, message: str) -> dict:
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message,
            "reason": reason, "code": code}
