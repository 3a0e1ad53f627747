"""Triton Python-backend model ``teacher``: the teacher's guided DDIM sampler (trailing spacing, eta = 0), the
baseline users compare the student against, calling text_encoder, teacher_unet and vae_decoder through BLS.

Request: PROMPT BYTES [1], STEPS INT32 [1] (1..50), SEED INT64 [1], GUIDANCE FP32 [1] (optional; standard CFG
scale g in uncond + g (cond - uncond), default the distillation's mean), FRAMES INT32 [1] (optional).
Response: VIDEO UINT8 [F, H, W, 3]. As ``mcm.sampler.baselines`` (TrailingDDIMScheduler):
    x0 = (x - sqrt(1 - abar_t) eps) / sqrt(abar_t);  x = sqrt(abar_prev) x0 + sqrt(1 - abar_prev) eps
with abar_prev = 1 after the last step (the predicted x0 is returned).
"""

from pipeline_common import Pipeline, call  # first: it puts the serving environment's packages on sys.path

import numpy as np  # noqa: E402
import torch  # noqa: E402


class TritonPythonModel(Pipeline):
    def sample(self, text, seeds, steps, guidance, prompts):
        schedule = self.settings["steps"][str(steps)]
        uncond = self.encode([""] * len(seeds))
        x, _ = self.noise(seeds)
        b = len(seeds)
        states = np.concatenate([text, uncond])
        for i, t in enumerate(schedule["timesteps"]):
            eps = torch.from_numpy(call("teacher_unet", {
                "sample": torch.cat([x, x]).numpy(), "timestep": np.full((2 * b, 1), t, dtype=np.int64),
                "text_states": states,
            }, "noise_pred"))
            eps_c, eps_u = eps.chunk(2)
            eps = eps_u + guidance * (eps_c - eps_u)
            abar_t, abar_prev = schedule["alpha"][i], schedule["alpha_prev"][i]
            x0 = (x - (1 - abar_t) ** 0.5 * eps) / abar_t**0.5
            x = abar_prev**0.5 * x0 + (1 - abar_prev) ** 0.5 * eps
        return x
