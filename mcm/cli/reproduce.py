"""``mcm reproduce``: the paper's tables in miniature (rows x seeds), claims decided by paired intervals.

    mcm reproduce --config toy                 # every row; reuses finished runs (their key unchanged)
    mcm reproduce --config toy --quick         # a smoke run: fewer updates, one seed, fewer prompts
    mcm reproduce --config toy --rows lcm mcm  # only these rows (and the teacher)
    mcm reproduce --config toy --report-only   # rewrite results.json and index.html from the result files
"""

from __future__ import annotations

import argparse
import signal
import sys


def _interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def _run(args: argparse.Namespace) -> int:
    from mcm.reproduce.config import load_reproduce_config
    from mcm.reproduce.report import write_results
    from mcm.reproduce.runner import Executor, Planner, check_prompt_sets, run_all

    cfg = load_reproduce_config(args.config, args.set)
    if args.jobs:
        cfg = cfg.model_copy(update={"jobs": args.jobs})
    mode = cfg.for_mode(args.quick)
    check_prompt_sets(cfg)
    outcome = None
    if not args.report_only:
        # A plain `kill` stops the children too (their checkpoints stay: the next reproduction resumes).
        signal.signal(signal.SIGTERM, _interrupt)
        runs = Planner(cfg, quick=args.quick).plan(args.rows)
        try:
            outcome = run_all(runs, Executor(cfg, quick=args.quick), mode.jobs, mode.progress_every_s)
        except KeyboardInterrupt:
            print("reproduce: interrupted; finished runs are kept and the next `mcm reproduce` resumes the others "
                  "from their checkpoints", file=sys.stderr)
            return 130
    paths = write_results(cfg, quick=args.quick, outcome=outcome)
    print(f"wrote {paths['results']} and {paths['report']}")
    if outcome is not None and outcome.failed:
        print(f"reproduce: {len(outcome.failed)} run(s) failed: {', '.join(outcome.failed)}", file=sys.stderr)
        return 1
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``reproduce`` verb."""
    p = subparsers.add_parser("reproduce", help="the paper's tables in miniature: train and evaluate every row, "
                              "decide each claim from paired 95%% intervals, write results.json + index.html")
    p.add_argument("--config", default="toy", help="preset (mcm/reproduce/presets: toy) or YAML file")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a field (dotted key, YAML value)")
    p.add_argument("--quick", action="store_true", help="smoke run: fewer updates, one seed, fewer prompts "
                   "(written to quick.results_dir; the report says so)")
    p.add_argument("--rows", nargs="+", help="only these rows (the teacher run is always included)")
    p.add_argument("--jobs", type=int, default=None, help="runs side by side (overrides jobs)")
    p.add_argument("--report-only", action="store_true", help="only rewrite results.json and the report")
    p.set_defaults(func=_run)
