"""``mcm sample``: write a video from a distilled student, or from the teacher with DDIM / DPM++."""

from __future__ import annotations

from mcm.cli.config import add_config_arguments


def register(sub) -> None:
    p = sub.add_parser("sample", help="generate a video")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--checkpoint", help="run folder (newest checkpoint), runs/LATEST (the newest run) or an "
                     "exported student folder")
    src.add_argument("--teacher", help="preset or YAML whose teacher samples (baseline)")
    p.add_argument("--scheduler", default=None, choices=["lcm", "ddim", "dpm++"],
                   help="lcm for a student (default), ddim or dpm++ for the teacher")
    p.add_argument("--prompt", required=True)
    p.add_argument("--steps", type=int, default=None, help="sampling steps (student: 1-8, default 4)")
    p.add_argument("--guidance", type=float, default=None, help="teacher baseline: standard CFG scale g in uncond + g (cond - uncond) "
                   "(default: mid of teacher.guidance_min..max, the LCM-form w of distillation, plus 1)")
    p.add_argument("--frames", type=int, default=None, help="frames to generate")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--fps", type=int, default=None)
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", required=True, help="output .mp4 or .gif")
    add_config_arguments(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from mcm.sampler.api import build_video_generator
    from mcm.sampler.video_io import write_video

    scheduler = args.scheduler or ("lcm" if args.checkpoint else "ddim")
    steps = args.steps if args.steps is not None else (4 if args.checkpoint else 25)
    gen = build_video_generator(
        checkpoint=args.checkpoint, teacher=args.teacher, scheduler=scheduler, steps=steps,
        guidance=args.guidance, num_frames=args.frames, device=args.device, overrides=tuple(args.overrides),
    )
    video = gen([args.prompt], [args.seed])[0]
    if video.shape[1] != 3:
        raise ValueError("this teacher produces no pixel video (the analytic teacher): nothing to write")
    path = write_video(video * 2 - 1, args.out, args.fps or gen.cfg.sample.fps)
    print(f"wrote {path}")
    return 0
