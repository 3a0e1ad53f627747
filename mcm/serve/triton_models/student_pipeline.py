"""Triton Python-backend model ``student``: the 1-8 step LCM sampler of the distilled student, calling the part
models (text_encoder, unet, vae_decoder) through business logic scripting (BLS).

Request (one video each; the repository's README states the schema):
    PROMPT  BYTES [1]   1..max_prompt_chars characters
    STEPS   INT32 [1]   1..8
    SEED    INT64 [1]   the video's noise: torch.Generator().manual_seed(SEED), as `mcm sample` draws it
    FRAMES  INT32 [1]   optional; must equal the exported frame count
Response: VIDEO UINT8 [F, H, W, 3]. An invalid request gets an error response naming the field; the others in
the same batch are answered normally.

The sampler is diffusers' LCMScheduler step written out (schedule.json holds, per step count, the timesteps,
alpha_t, alpha_prev, c_skip and c_out the repository generator read from the student's LCMScheduler):
    x0 = (x - sqrt(1 - alpha_t) eps) / sqrt(alpha_t);  denoised = c_out x0 + c_skip x
    x = sqrt(alpha_prev) denoised + sqrt(1 - alpha_prev) z   (z ~ N(0, I) from the request's generator; not after
                                                              the last step)
Requests of one batch with the same step count run through the UNet together. Runs in the serving environment
(numpy, torch, transformers), not mcm's.
"""

import json
import os
import sys

# The Python backend's stub ignores PYTHONPATH: the serving environment's packages come from this variable.
for _path in reversed(os.environ.get("MCM_SERVE_PYTHONPATH", "").split(os.pathsep)):
    if _path and _path not in sys.path:
        sys.path.insert(0, _path)
import time

import numpy as np
import torch
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def initialize(self, args):
        folder = os.path.join(args["model_repository"], args["model_version"])
        self.settings = json.loads(open(os.path.join(folder, "schedule.json")).read())
        from transformers import AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(os.path.join(folder, "tokenizer"))
        torch.set_num_threads(int(os.environ.get("MCM_SERVE_THREADS", "1")))
        s = self.settings
        self.latent_shape = tuple(s["latent_shape"])
        self.videos = pb_utils.MetricFamily(name="mcm_videos_generated_total", description="Videos generated",
                                            kind=pb_utils.MetricFamily.COUNTER)
        self.rejected = pb_utils.MetricFamily(name="mcm_requests_rejected_total",
                                              description="Requests rejected by validation",
                                              kind=pb_utils.MetricFamily.COUNTER)
        self.latency = pb_utils.MetricFamily(name="mcm_generation_seconds_total",
                                             description="Seconds spent generating, by step count",
                                             kind=pb_utils.MetricFamily.COUNTER)
        self.model_name = args["model_name"]

    # ------------------------------------------------------------------------------------------ validation
    def _read(self, request):
        """(prompt, steps, seed) of a valid request; raises ValueError naming the problem."""
        s = self.settings

        def scalar(name, required=True):
            tensor = pb_utils.get_input_tensor_by_name(request, name)
            if tensor is None:
                if required:
                    raise ValueError(f"{name} is missing")
                return None
            value = tensor.as_numpy().reshape(-1)
            if value.size != 1:
                raise ValueError(f"{name} must hold one value, got {value.size}")
            return value[0]

        raw = scalar("PROMPT")
        prompt = raw.decode("utf-8", errors="strict") if isinstance(raw, bytes) else str(raw)
        if not prompt.strip():
            raise ValueError("PROMPT is empty")
        if len(prompt) > s["max_prompt_chars"]:
            raise ValueError(f"PROMPT has {len(prompt)} characters; at most {s['max_prompt_chars']}")
        steps = int(scalar("STEPS"))
        if str(steps) not in s["steps"]:
            raise ValueError(f"STEPS={steps} is outside {min(map(int, s['steps']))}-{max(map(int, s['steps']))}")
        seed = int(scalar("SEED"))
        if seed < 0:
            raise ValueError(f"SEED={seed} must be >= 0")
        frames = scalar("FRAMES", required=False)
        if frames is not None and int(frames) != s["frames"]:
            raise ValueError(f"FRAMES={int(frames)}: this model generates exactly {s['frames']} frames")
        return prompt, steps, seed

    # ------------------------------------------------------------------------------------------------ BLS
    def _call(self, model, inputs, output):
        request = pb_utils.InferenceRequest(model_name=model, requested_output_names=[output],
                                            inputs=[pb_utils.Tensor(k, v) for k, v in inputs.items()])
        response = request.exec()
        if response.has_error():
            raise RuntimeError(f"{model}: {response.error().message()}")
        return pb_utils.get_output_tensor_by_name(response, output).as_numpy()

    def _encode(self, prompts):
        ids = self.tokenizer(prompts, padding="max_length", max_length=self.settings["text_max_length"],
                             truncation=True, return_tensors="np").input_ids.astype(np.int64)
        return self._call("text_encoder", {"input_ids": ids}, "text_states")

    def _sample(self, text, seeds, steps):
        schedule = self.settings["steps"][str(steps)]
        generators = [torch.Generator().manual_seed(s) for s in seeds]
        x = torch.stack([torch.randn(self.latent_shape, generator=g) for g in generators])
        denoised = x
        last = len(schedule["timesteps"]) - 1
        for i, t in enumerate(schedule["timesteps"]):
            eps = torch.from_numpy(self._call("unet", {
                "sample": x.numpy(), "timestep": np.full((len(seeds), 1), t, dtype=np.int64), "text_states": text,
            }, "noise_pred"))
            a_t = torch.tensor(schedule["alpha"][i], dtype=torch.float32)
            a_prev = torch.tensor(schedule["alpha_prev"][i], dtype=torch.float32)
            x0 = (x - (1 - a_t).sqrt() * eps) / a_t.sqrt()
            denoised = schedule["c_out"][i] * x0 + schedule["c_skip"][i] * x
            if i != last:
                z = torch.cat([torch.randn((1, *self.latent_shape), generator=g) for g in generators])
                x = a_prev.sqrt() * denoised + (1 - a_prev).sqrt() * z
            else:
                x = denoised
        return denoised

    def _decode(self, latents):
        b, c, f, h, w = latents.shape
        frames = (latents.permute(0, 2, 1, 3, 4).reshape(b * f, c, h, w) / self.settings["vae_scaling_factor"])
        pixels = self._call("vae_decoder", {"latents": frames.numpy().astype(np.float32)}, "pixels")
        video = (np.clip(pixels, -1, 1) + 1) / 2
        video = video.reshape(b, f, *video.shape[1:]).transpose(0, 1, 3, 4, 2)  # (b, F, H, W, 3)
        return np.round(video * 255).astype(np.uint8)

    def execute(self, requests):
        responses = [None] * len(requests)
        valid = {}
        for i, request in enumerate(requests):
            try:
                valid[i] = self._read(request)
            except (ValueError, UnicodeDecodeError) as err:
                responses[i] = pb_utils.InferenceResponse(error=pb_utils.TritonError(f"invalid request: {err}"))
                self.rejected.Metric(labels={"model": self.model_name}).increment(1)
        by_steps = {}
        for i, (_, steps, _) in valid.items():
            by_steps.setdefault(steps, []).append(i)
        for steps, idx in by_steps.items():
            t0 = time.perf_counter()
            try:
                text = self._encode([valid[i][0] for i in idx])
                video = self._decode(self._sample(text, [valid[i][2] for i in idx], steps))
            except Exception as err:  # a part model failed: answer these requests, stay up
                for i in idx:
                    responses[i] = pb_utils.InferenceResponse(error=pb_utils.TritonError(f"generation failed: {err}"))
                continue
            for k, i in enumerate(idx):
                responses[i] = pb_utils.InferenceResponse([pb_utils.Tensor("VIDEO", video[k:k + 1])])
            labels = {"model": self.model_name, "steps": str(steps)}
            self.videos.Metric(labels=labels).increment(len(idx))
            self.latency.Metric(labels=labels).increment(time.perf_counter() - t0)
        return responses
