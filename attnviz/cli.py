"""The command-line arguments every lesson shares, and one way to report bad input.

Each lesson builds its parser with :func:`lesson_parser` (so ``--model``, ``--device`` and ``--out`` mean
the same everywhere) and runs ``main`` through :func:`run_lesson`, which turns the errors a user can cause
— a model that cannot be loaded offline, a bad index, a missing file — into one readable line and exit
status 2, instead of a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings

os.environ.setdefault("MPLBACKEND", "Agg")


def lesson_parser(doc: str | None, *, model_kind: str | None = "encoder", text: str | None = None,
                  layer: int | None = None, head: int | None = None, image: str | None = None):
    """A parser with the shared options. Pass a default for each option the lesson uses."""
    from attnviz.models import default_model

    first_paragraph = (doc or "").strip().split("\n\n")[0]
    parser = argparse.ArgumentParser(description=first_paragraph,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    if model_kind is not None:
        parser.add_argument("--model", default=None,
                            help=f"a Hub id or local folder (default: the offline {default_model(model_kind)})")
    if text is not None:
        parser.add_argument("--text", default=text, help=f"the input sentence (default: {text!r})")
    if image is not None:
        parser.add_argument("--image", default=image, help="an image file (default: a shipped example)")
    if layer is not None:
        parser.add_argument("--layer", type=int, default=layer, help=f"layer index, negative from the end (default: {layer})")
    if head is not None:
        parser.add_argument("--head", type=int, default=head, help=f"head index (default: {head})")
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:0 ... (default: CUDA when present, else CPU)")
    parser.add_argument("--out", default=None, help="output folder (default: outputs/<tier>/<script>/)")
    return parser


def run_lesson(main, argv=None) -> int:
    """Call ``main(argv)``; print user errors as one line on stderr and return exit status 2."""
    from attnviz.models import ModelLoadError

    warnings.filterwarnings("ignore", category=FutureWarning)
    try:
        main(argv)
    except (ModelLoadError, ValueError, TypeError, FileNotFoundError, IndexError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0
