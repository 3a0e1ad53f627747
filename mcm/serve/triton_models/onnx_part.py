"""Triton Python-backend model: one ONNX part of the student (text encoder, UNet or VAE decoder) run with
onnxruntime. Used when the repository is generated with ``--backend python`` (the tritonserver of the
nvidia-pytriton wheel carries only the Python backend); production uses Triton's onnxruntime or TensorRT
backends for the same graph. Dynamic batching hands ``execute`` several requests: their inputs are stacked on
the batch axis, run once, and split back. Runs in the serving environment (numpy, onnxruntime), not mcm's."""

import json
import os
import sys

# The Python backend's stub ignores PYTHONPATH: the serving environment's packages come from this variable.
for _path in reversed(os.environ.get("MCM_SERVE_PYTHONPATH", "").split(os.pathsep)):
    if _path and _path not in sys.path:
        sys.path.insert(0, _path)

import numpy as np
import onnxruntime as ort
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def initialize(self, args):
        folder = os.path.join(args["model_repository"], args["model_version"])
        self.config = json.loads(args["model_config"])
        self.inputs = [i["name"] for i in self.config["input"]]
        self.output = self.config["output"][0]["name"]
        options = ort.SessionOptions()
        options.intra_op_num_threads = int(os.environ.get("MCM_SERVE_THREADS", "1"))
        self.session = ort.InferenceSession(os.path.join(folder, "model.onnx"), options,
                                            providers=["CPUExecutionProvider"])

    def execute(self, requests):
        arrays = [[pb_utils.get_input_tensor_by_name(r, name).as_numpy() for name in self.inputs] for r in requests]
        sizes = [a[0].shape[0] for a in arrays]
        feed = {}
        for k, name in enumerate(self.inputs):  # the config uses the graph's own input names
            stacked = np.concatenate([a[k] for a in arrays])
            feed[name] = stacked.reshape(-1) if name == "timestep" else stacked
        out = self.session.run(None, feed)[0]
        responses, start = [], 0
        for n in sizes:
            responses.append(pb_utils.InferenceResponse([pb_utils.Tensor(self.output, out[start:start + n])]))
            start += n
        return responses
