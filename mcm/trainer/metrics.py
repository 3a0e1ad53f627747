"""Training metrics: one JSON line per log step, and Prometheus gauges (Pushgateway or a textfile).

The textfile (``RUN/metrics.prom``) is what node-exporter's textfile collector reads; with
``train.pushgateway_url`` set the same registry is pushed there instead.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Optional

from prometheus_client import CollectorRegistry, Gauge, push_to_gateway, write_to_textfile

METRIC_PREFIX = "mcm_train_"
PUSH_JOB = "mcm-distill"


class MetricsLogger:
    def __init__(self, run_dir: str | Path, pushgateway_url: Optional[str] = None, enabled: bool = True):
        self.enabled = enabled
        self.jsonl = Path(run_dir) / "metrics.jsonl"
        self.textfile = Path(run_dir) / "metrics.prom"
        self.pushgateway_url = pushgateway_url
        self.registry = CollectorRegistry()
        self.gauges: dict[str, Gauge] = {}

    def _gauge(self, name: str) -> Gauge:
        if name not in self.gauges:
            safe = METRIC_PREFIX + "".join(c if c.isalnum() else "_" for c in name)
            self.gauges[name] = Gauge(safe, f"mcm training metric {name}", registry=self.registry)
        return self.gauges[name]

    def log(self, step: int, values: dict[str, float]) -> None:
        if not self.enabled:
            return
        record = {"step": step, "time": time.time(), **{k: float(v) for k, v in values.items()}}
        with self.jsonl.open("a") as fh:
            fh.write(json.dumps(record) + "\n")
        self._gauge("step").set(step)
        for key, value in values.items():
            self._gauge(key).set(float(value))
        if self.pushgateway_url:
            push_to_gateway(self.pushgateway_url, job=PUSH_JOB, registry=self.registry)
        else:
            write_to_textfile(str(self.textfile), self.registry)


def read_metrics(run_dir: str | Path) -> list[dict]:
    path = Path(run_dir) / "metrics.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []
