"""Does the small world's teacher take the direction of motion from the caption or from the noise? (issue 9)

    python bench/frame_order.py                       # the shipped teacher (assets/toy/teacher/unet)
    python bench/frame_order.py --unet FOLDER         # another UNet3D folder (e.g. a toy-assets snapshot)
    python bench/frame_order.py --train both --steps 1200 --work /tmp/frame-order   # the ablation, ~20 min each
    python bench/frame_order.py --quick               # 16 clips, one noise level (under a minute)

The probe: clips of V whose frames are put in reverse order (so they move against their caption), noised to
timestep t, are denoised in one guided prediction (CFG at the toy preset's scale) with the *original*
caption; the world's direction classifier reads the predicted clean clip. "caption" is the share drawn the
captioned way, "leak" the share drawn the way the noised input moves. At high noise the input says little,
so a teacher that knows its frames' order follows the caption; one that cannot tell the first frame from the
last (diffusers' UNet3D has no positional embedding in its temporal attention) copies the input's motion or
guesses: caption ~ leak or below.

--train trains a teacher with the real trainer (mcm.world.teacher.train_teacher, the shipped VAE and text
encoder) for --steps with the frame-order choices switched: ``both``, ``neither`` (the shipped teacher's recipe),
``weighting`` (snr_lift = 1 only), ``causal`` (causal temporal kernels only), then probes it.

Goal: at t = 900 the caption decides more often than the leaked input (caption > leak). The shipped teacher
misses it (it picks the sign of motion from the noise); a 2500-step teacher with ``both`` passes it
(mcm.world.teacher's docstring: its direction is right on 100% of prompts, but its shapes suffer).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mcm.teachers.base import alphas_cumprod_from_betas  # noqa: E402
from mcm.world.evalnets import load_eval_networks  # noqa: E402
from mcm.world.sets import WorldConfig, clips  # noqa: E402
from mcm.world.spec import DIRECTIONS  # noqa: E402

#: variant: (causal_temporal, snr_lift)
VARIANTS = {"both": (True, 1.0), "neither": (False, 0.0), "weighting": (False, 1.0), "causal": (True, 0.0)}
#: First clip index of the probe: past the 4096 clips of V the teacher trains on (same world, unseen clips).
PROBE_START = 8192
OPPOSITE = torch.tensor([DIRECTIONS.index(d) for d in ("right", "left", "down", "up")])


def train(variant: str, steps: int, work: Path, assets: Path) -> Path:
    from diffusers import AutoencoderKL
    from transformers import CLIPTextModel

    from mcm.world.assets import ToyAssetsConfig
    from mcm.world.teacher import train_teacher
    from mcm.world.tokenizer import build_world_tokenizer

    causal, lift = VARIANTS[variant]
    cfg = ToyAssetsConfig().teacher.model_copy(update={"steps": steps, "causal_temporal": causal,
                                                       "snr_lift": lift, "snapshot_every": steps})
    folder = work / f"{variant}-{steps}"
    vae = AutoencoderKL.from_pretrained(assets / "vae").eval()
    text = CLIPTextModel.from_pretrained(assets / "text_encoder").eval()
    train_teacher(WorldConfig(), folder, work / f"{variant}-{steps}-work", vae, text, build_world_tokenizer(), cfg,
                  log=lambda line: print(line, file=sys.stderr, flush=True))
    return folder


@torch.no_grad()
def probe(unet_dir: Path, assets: Path, n: int, timesteps: list[int], guidance: float, seed: int = 7) -> dict:
    from diffusers import AutoencoderKL, UNet3DConditionModel
    from transformers import CLIPTextModel

    from mcm.world.tokenizer import WORLD_TEXT_MAX_LENGTH, build_world_tokenizer
    from mcm.world.train_utils import frames_tensor

    unet = UNet3DConditionModel.from_pretrained(unet_dir).eval()
    vae = AutoencoderKL.from_pretrained(assets / "vae").eval()
    text_encoder = CLIPTextModel.from_pretrained(assets / "text_encoder").eval()
    tok = build_world_tokenizer()
    nets = load_eval_networks(assets.parent / "eval")
    s = json.loads((assets / "scheduler" / "scheduler_config.json").read_text())
    abar = alphas_cumprod_from_betas(s["num_train_timesteps"], s["beta_start"], s["beta_end"], s["beta_schedule"])
    world = WorldConfig()
    arr, its = clips(world, "videos", n, start=PROBE_START)
    frames = frames_tensor(arr).flatten(0, 1)
    z = vae.encode(frames).latent_dist.mean * vae.config.scaling_factor
    z = z.reshape(n, world.num_frames, *z.shape[1:]).permute(0, 2, 1, 3, 4)

    def encode(texts):
        ids = tok(texts, padding="max_length", max_length=WORLD_TEXT_MAX_LENGTH, truncation=True,
                  return_tensors="pt").input_ids
        return text_encoder(ids)[0]

    cond, null = encode([it.caption for it in its]), encode([""]).expand(n, -1, -1)
    captioned = torch.tensor([it.combo.direction for it in its])
    g = torch.Generator().manual_seed(seed)
    out = {}
    for t in timesteps:
        noise = torch.randn(z.shape, generator=g)
        a = abar[t]
        xt = a.sqrt() * z.flip(2) + (1 - a).sqrt() * noise  # the clip played backwards: it moves the other way
        ts = torch.full((n,), t)
        e_c = unet(xt, ts, encoder_hidden_states=cond).sample
        e_u = unet(xt, ts, encoder_hidden_states=null).sample
        eps = e_u + guidance * (e_c - e_u)
        x0 = (xt - (1 - a).sqrt() * eps) / a.sqrt()
        b, c, f, h, w = x0.shape
        pix = vae.decode(x0.permute(0, 2, 1, 3, 4).reshape(b * f, c, h, w) / vae.config.scaling_factor).sample
        video = ((pix + 1) / 2).clamp(0, 1).reshape(b, f, *pix.shape[1:])
        read = nets.attribute_logits(video)["direction"].argmax(-1)
        out[t] = (float((read == captioned).float().mean()), float((read == OPPOSITE[captioned]).float().mean()))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--unet", action="append", help="UNet3D folder(s) to probe (default: the shipped teacher's)")
    ap.add_argument("--assets", default=str(ROOT / "assets/toy/teacher"), help="the teacher folder (VAE, text)")
    ap.add_argument("--train", nargs="+", choices=sorted(VARIANTS), help="train these variants first, then probe")
    ap.add_argument("--steps", type=int, default=1200, help="training steps of --train")
    ap.add_argument("--work", default="/tmp/mcm-frame-order", help="where --train writes")
    ap.add_argument("--clips", type=int, default=64)
    ap.add_argument("--guidance", type=float, default=3.0, help="CFG scale g (the toy preset's)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--quick", action="store_true", help="16 clips at t = 900 only")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    assets = Path(args.assets)
    folders = [(Path(u).name, Path(u)) for u in (args.unet or [])]
    for variant in args.train or []:
        folders.append((f"{variant} ({args.steps} steps)", train(variant, args.steps, Path(args.work), assets)))
    if not folders:
        folders = [("shipped teacher", assets / "unet")]
    n, timesteps = (16, [900]) if args.quick else (args.clips, [990, 900, 750])
    print(f"time-flipped clips of V ({n}), one guided prediction (g = {args.guidance:g}) at t; the direction drawn: "
          f"the caption's / the input's (leaked){'  [--quick]' if args.quick else ''}")
    print(f"{'teacher':<32}" + "".join(f"{'t = ' + str(t):>18}" for t in timesteps))
    results = {}
    for name, folder in folders:
        results[name] = probe(folder, assets, n, timesteps, args.guidance)
        print(f"{name:<32}" + "".join(f"{100 * c:>8.0f}% / {100 * lk:>3.0f}%" for c, lk in results[name].values()))
    for name, r in results.items():
        caption, leak = r[900]
        label = name.replace(" ", "_").replace("(", "").replace(")", "")
        print(f"GOAL frame_order_caption_over_leak_t900[{label}] {caption - leak:+.3f} 0 "
              f"{'PASS' if caption > leak else 'MISS'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
