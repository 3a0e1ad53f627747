"""Shared by the pipeline models (student, teacher): request validation, calls of the part models (BLS), text
encoding, VAE decoding and mcm's metrics. Copied next to each pipeline model's model.py (the Python backend puts
that folder on sys.path). Runs in the serving environment, not mcm's."""

import json
import os
import sys

# The Python backend's stub ignores PYTHONPATH: the serving environment's packages come from this variable.
for _path in reversed(os.environ.get("MCM_SERVE_PYTHONPATH", "").split(os.pathsep)):
    if _path and _path not in sys.path:
        sys.path.insert(0, _path)

import numpy as np  # noqa: E402
import triton_python_backend_utils as pb_utils  # noqa: E402


def load_settings(args):
    folder = os.path.join(args["model_repository"], args["model_version"])
    with open(os.path.join(folder, "schedule.json")) as f:
        return folder, json.load(f)


def scalar(request, name, required=True):
    tensor = pb_utils.get_input_tensor_by_name(request, name)
    if tensor is None:
        if required:
            raise ValueError(f"{name} is missing")
        return None
    value = tensor.as_numpy().reshape(-1)
    if value.size != 1:
        raise ValueError(f"{name} must hold one value, got {value.size}")
    return value[0]


def read_request(request, settings):
    """(prompt, steps, seed, guidance or None) of a valid request; raises ValueError naming the problem."""
    raw = scalar(request, "PROMPT")
    prompt = raw.decode("utf-8", errors="strict") if isinstance(raw, bytes) else str(raw)
    if not prompt.strip():
        raise ValueError("PROMPT is empty")
    if len(prompt) > settings["max_prompt_chars"]:
        raise ValueError(f"PROMPT has {len(prompt)} characters; at most {settings['max_prompt_chars']}")
    steps = int(scalar(request, "STEPS"))
    allowed = sorted(map(int, settings["steps"]))
    if steps not in allowed:
        raise ValueError(f"STEPS={steps} is outside {allowed[0]}-{allowed[-1]}")
    seed = int(scalar(request, "SEED"))
    if seed < 0:
        raise ValueError(f"SEED={seed} must be >= 0")
    frames = scalar(request, "FRAMES", required=False)
    if frames is not None and int(frames) != settings["frames"]:
        raise ValueError(f"FRAMES={int(frames)}: this model generates exactly {settings['frames']} frames")
    guidance = None
    if "guidance_max" in settings:
        raw_g = scalar(request, "GUIDANCE", required=False)
        guidance = settings["guidance_default"] if raw_g is None else float(raw_g)
        if not 1.0 <= guidance <= settings["guidance_max"]:
            raise ValueError(f"GUIDANCE={guidance:g} is outside 1-{settings['guidance_max']:g}")
    elif scalar(request, "GUIDANCE", required=False) is not None:
        raise ValueError("GUIDANCE: the student has its guidance distilled in; leave it out")
    return prompt, steps, seed, guidance


def encode_mp4(video, fps=8):
    """(F, H, W, 3) uint8 -> H.264 MP4 bytes (sides padded to even sizes, as yuv420p needs)."""
    import io

    import av

    f, h, w, _ = video.shape
    padded = np.pad(video, ((0, 0), (0, h % 2), (0, w % 2), (0, 0)), mode="edge")
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = padded.shape[2], padded.shape[1], "yuv420p"
        for frame in padded:
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buffer.getvalue()


def call(model, inputs, output):
    request = pb_utils.InferenceRequest(model_name=model, requested_output_names=[output],
                                        inputs=[pb_utils.Tensor(k, v) for k, v in inputs.items()])
    response = request.exec()
    if response.has_error():
        raise RuntimeError(f"{model}: {response.error().message()}")
    return pb_utils.get_output_tensor_by_name(response, output).as_numpy()


class Pipeline:
    """What both pipeline models share; subclasses implement ``sample(text, seeds, steps, guidance, prompts)``."""

    def initialize(self, args):
        import torch
        from transformers import AutoTokenizer

        folder, self.settings = load_settings(args)
        self.tokenizer = AutoTokenizer.from_pretrained(os.path.join(folder, "tokenizer"))
        torch.set_num_threads(int(os.environ.get("MCM_SERVE_THREADS", "1")))
        self.latent_shape = tuple(self.settings["latent_shape"])
        self.model_name = args["model_name"]
        counter, histogram = pb_utils.MetricFamily.COUNTER, pb_utils.MetricFamily.HISTOGRAM
        self.videos = pb_utils.MetricFamily(name="mcm_videos_generated_total", description="Videos generated",
                                            kind=counter)
        self.rejected = pb_utils.MetricFamily(name="mcm_requests_rejected_total",
                                              description="Requests rejected by validation", kind=counter)
        self.seconds = pb_utils.MetricFamily(name="mcm_generation_seconds_total",
                                             description="Seconds spent generating, by step count", kind=counter)
        self.latency = pb_utils.MetricFamily(name="mcm_generation_latency_seconds",
                                             description="Seconds per generated batch, by step count",
                                             kind=histogram)
        self.latency_buckets = self.settings["latency_buckets_s"]  # floats, increasing (RepositoryConfig)
        self._metrics = {}

    def metric(self, family, labels, **kwargs):
        """One labelled metric of ``family``, created once (Triton keeps a metric per family and label set)."""
        key = (id(family), tuple(sorted(labels.items())))
        if key not in self._metrics:
            self._metrics[key] = family.Metric(labels=labels, **kwargs)
        return self._metrics[key]

    def encode(self, prompts):
        ids = self.tokenizer(prompts, padding="max_length", max_length=self.settings["text_max_length"],
                             truncation=True, return_tensors="np").input_ids.astype(np.int64)
        return call("text_encoder", {"input_ids": ids}, "text_states")

    def noise(self, seeds):
        import torch

        generators = [torch.Generator().manual_seed(s) for s in seeds]
        return torch.stack([torch.randn(self.latent_shape, generator=g) for g in generators]), generators

    def decode(self, latents):
        b, c, f, h, w = latents.shape
        frames = latents.permute(0, 2, 1, 3, 4).reshape(b * f, c, h, w) / self.settings["vae_scaling_factor"]
        pixels = call("vae_decoder", {"latents": frames.numpy().astype(np.float32)}, "pixels")
        video = (np.clip(pixels, -1, 1) + 1) / 2
        video = video.reshape(b, f, *video.shape[1:]).transpose(0, 1, 3, 4, 2)  # (b, F, H, W, 3)
        return np.round(video * 255).astype(np.uint8)

    def execute(self, requests):
        import time

        responses = [None] * len(requests)
        valid = {}
        for i, request in enumerate(requests):
            try:
                valid[i] = read_request(request, self.settings)
            except (ValueError, UnicodeDecodeError) as err:
                responses[i] = pb_utils.InferenceResponse(error=pb_utils.TritonError(f"invalid request: {err}"))
                self.metric(self.rejected, {"model": self.model_name}).increment(1)
        groups = {}
        for i, (_, steps, _, guidance) in valid.items():
            groups.setdefault((steps, guidance), []).append(i)
        for (steps, guidance), idx in groups.items():
            t0 = time.perf_counter()
            try:
                prompts = [valid[i][0] for i in idx]
                latents = self.sample(self.encode(prompts), [valid[i][2] for i in idx], steps, guidance, prompts)
                video = self.decode(latents)
            except Exception as err:  # a part model failed: answer these requests, stay up
                for i in idx:
                    responses[i] = pb_utils.InferenceResponse(error=pb_utils.TritonError(f"generation failed: {err}"))
                continue
            for k, i in enumerate(idx):
                outputs = [pb_utils.Tensor("VIDEO", video[k:k + 1])]
                if "MP4" in requests[i].requested_output_names():
                    outputs.append(pb_utils.Tensor("MP4", np.array([[encode_mp4(video[k])]], dtype=object)))
                responses[i] = pb_utils.InferenceResponse(outputs)
            labels = {"model": self.model_name, "steps": str(steps)}
            seconds = time.perf_counter() - t0
            self.metric(self.videos, labels).increment(len(idx))
            self.metric(self.seconds, labels).increment(seconds)
            self.metric(self.latency, labels, buckets=self.latency_buckets).observe(seconds)
        return responses
