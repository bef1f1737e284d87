"""``vocabgraft demo``: what vocabgraft is for, on real data, in one command."""

from __future__ import annotations

import argparse
from typing import Any

from vocabgraft.cli._common import check_destination
from vocabgraft.demo.config import DEFAULT_OUT


def add_parser(sub: Any) -> None:
    """Add the ``demo`` command to ``sub``."""
    p = sub.add_parser(
        "demo",
        help="the common questions answered end to end on GloVe and real reviews",
        description=(
            "Align a review vocabulary to GloVe 6B 50d, compare four ways to treat the "
            "embedding, add new words and new products to a trained model, and measure drift. "
            "Offline; prints each step and writes a report folder."
        ),
    )
    p.add_argument(
        "--out",
        metavar="DIR",
        default=str(DEFAULT_OUT),
        help=f"the report folder (default: {DEFAULT_OUT}/); a previous report there is replaced",
    )
    p.add_argument(
        "--quick", action="store_true", help="fewer seeds and epochs: under 2 minutes on 2 cores"
    )
    p.add_argument("--seed", type=int, default=0, metavar="N", help="the first seed (default 0)")
    p.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the demo and write its report folder."""
    # The report folder is checked by the demo itself, which replaces only a report.
    check_destination(args.out, "--out", overwrite=None)
    from vocabgraft.demo import DemoConfig, run_demo

    cfg = DemoConfig.create(seed=args.seed, quick=args.quick, out=args.out, plots=not args.no_plots)
    run_demo(cfg)
    return 0
