"""Retrain the course's small models: ``python -m attnviz.training NAME`` (or ``all``).

Each model trains from a fixed seed on freshly generated data, is saved into ``data/models/NAME/`` with
its tokenizer or image processor, reloaded from disk, measured, and described in ``README.md`` (the
model card) in the same folder. ``--out`` writes somewhere else (the shipped models stay untouched).
"""

from __future__ import annotations

import json
import os
import sys
import warnings
from pathlib import Path

from attnviz.cli import OneLineParser

TRAINERS = {
    "tiny-bart-dates": "attnviz.training.bart_dates",
    "gru-attention-dates": "attnviz.training.gru_dates",
    "tiny-gpt2-induction": "attnviz.training.gpt2_induction",
    "tiny-vit-shapes": "attnviz.training.vit_shapes",
}


def train(name: str, out_dir: Path | None = None, progress: bool = True) -> dict:
    """Train one model by name and return the figures of its model card."""
    import importlib

    module = importlib.import_module(TRAINERS[name])
    return module.train_and_save(out_dir, progress=progress)


def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(prog="python -m attnviz.training", description=__doc__.splitlines()[0])
    parser.add_argument("name", choices=[*TRAINERS, "all"], help="which model to train")
    parser.add_argument("--out", type=Path, default=None, help="folder to write (default: data/models/NAME)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)

    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing here needs the network
    warnings.filterwarnings("ignore", message=".*loss_type=None.*")
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()  # keep one progress bar: ours
    transformers_logging.set_verbosity_error()
    names = list(TRAINERS) if args.name == "all" else [args.name]
    if args.out is not None and len(names) > 1:
        parser.error("--out takes one model; train them one at a time")
    for name in names:
        figures = train(name, args.out, progress=not args.no_progress)
        summary = {k: v for k, v in figures.items() if k != "config"}
        print(f"{name}: " + json.dumps(summary, default=str, indent=1), file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
