import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import torch

from mcm.trainer.metrics import MetricsLogger, read_metrics
from mcm.trainer.validation import collapse_statistics


def test_jsonl_and_prometheus_textfile(tmp_path):
    logger = MetricsLogger(tmp_path)
    logger.log(1, {"loss_cd": 0.5, "samples/s": 3.0})
    logger.log(2, {"loss_cd": 0.25})
    records = read_metrics(tmp_path)
    assert [r["step"] for r in records] == [1, 2] and records[1]["loss_cd"] == 0.25
    text = (tmp_path / "metrics.prom").read_text()
    assert "mcm_train_loss_cd 0.25" in text and "mcm_train_samples_s 3.0" in text and "mcm_train_step 2.0" in text


def test_pushgateway_receives_the_metrics(tmp_path):
    received = []

    class Handler(BaseHTTPRequestHandler):
        def do_PUT(self):
            received.append((self.path, self.rfile.read(int(self.headers["Content-Length"])).decode()))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.handle_request, daemon=True)
    thread.start()
    logger = MetricsLogger(tmp_path, pushgateway_url=f"http://127.0.0.1:{server.server_port}")
    logger.log(7, {"loss_cd": 0.125})
    thread.join(timeout=10)
    server.server_close()
    assert received and received[0][0] == "/metrics/job/mcm-distill"
    assert "mcm_train_loss_cd 0.125" in received[0][1]
    assert not (tmp_path / "metrics.prom").exists()


def test_collapse_statistics_flag_black_and_identical_videos():
    black = torch.zeros(4, 3, 3, 8, 8)
    stats = collapse_statistics(black, black_threshold=0.05)
    assert stats["val_near_black"] == 1.0 and stats["val_pixel_std"] == 0.0
    varied = torch.rand(4, 3, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    varied[0] *= 0.02  # one near-black video out of four
    stats = collapse_statistics(varied, black_threshold=0.05)
    assert stats["val_near_black"] == 0.25 and stats["val_pixel_std"] > 0.1 and stats["val_temporal_std"] > 0.1
