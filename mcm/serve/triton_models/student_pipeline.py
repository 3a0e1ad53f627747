"""Triton Python-backend model ``student``: the 1-8 step LCM sampler of the distilled student, calling the part
models (text_encoder, unet, vae_decoder) through business logic scripting (BLS).

Request (one video each; the README states the schema):
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
Requests of one batch with the same step count run through the UNet together.
"""

from pipeline_common import Pipeline, call  # first: it puts the serving environment's packages on sys.path

import numpy as np  # noqa: E402
import torch  # noqa: E402


class TritonPythonModel(Pipeline):
    def sample(self, text, seeds, steps, guidance, prompts):
        schedule = self.settings["steps"][str(steps)]
        x, generators = self.noise(seeds)
        denoised = x
        last = len(schedule["timesteps"]) - 1
        for i, t in enumerate(schedule["timesteps"]):
            eps = torch.from_numpy(call("unet", {
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
