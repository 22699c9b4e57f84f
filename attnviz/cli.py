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


MIDDLE, LAST = "middle", "last"  # layer defaults relative to the model's depth, resolved after loading


class OneLineParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one line on stderr with exit status 2 (argparse's own print the
    whole usage first). Every command of the course uses it: the lessons and the tools (``make grade``, ...)."""

    def error(self, message):
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


class LessonParser(OneLineParser):
    """A :class:`OneLineParser` whose ``parse_args`` also applies ``--verbose`` (to
    :data:`attnviz.models.VERBOSE`)."""

    def parse_args(self, args=None, namespace=None):
        import attnviz.models

        parsed = super().parse_args(args, namespace)
        attnviz.models.VERBOSE = bool(getattr(parsed, "verbose", False))
        return parsed


def output_folder(text: str) -> str:
    """``--out``: checked at parse time by :func:`attnviz.outputs.check_output_folder` (not a file, not under a
    file, writable), so a bad folder is one line before any model is loaded."""
    from attnviz.outputs import check_output_folder

    try:
        check_output_folder(text, "--out")
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err).removeprefix("--out: ")) from None
    return text


def device_name(text: str) -> str:
    """``--device``: checked before any work, so that ``--device tpu`` is one line, not a torch traceback."""
    from attnviz.models import resolve_device

    try:
        resolve_device(text)
    except (ValueError, TypeError) as err:
        raise argparse.ArgumentTypeError(str(err).removeprefix("device: ")) from None
    return text


def resolve_layer(layer: int | str | None, n_layers: int) -> int:
    """A ``--layer`` value for a model with ``n_layers`` layers: an index (negative from the end, checked),
    or ``"middle"`` (layer ``(L − 1) // 2``: 2 of MiniLM's 6, 0 of a 2-layer model) or ``"last"``."""
    from attnviz.validate import check_index

    if layer == MIDDLE:
        return (n_layers - 1) // 2
    if layer in (LAST, None):
        return n_layers - 1
    return check_index(int(layer), n_layers, name="layer")


def _layer_value(text: str):
    """``--layer``: an integer, or ``middle`` / ``last``."""
    if text in (MIDDLE, LAST):
        return text
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, 'middle' or 'last', got {text!r}") from None


def lesson_parser(doc: str | None, *, model_kind: str | None = "encoder", text: str | None = None,
                  layer: int | str | None = None, head: int | None = None, image: str | None = None):
    """A parser with the shared options. Pass a default for each option the lesson uses.

    ``layer`` may be ``"middle"`` or ``"last"`` (or a negative index): a default that fits a model of any
    depth; the lesson resolves it with :func:`resolve_layer` once the model is loaded.
    """
    from attnviz.models import default_model

    first_paragraph = (doc or "").strip().split("\n\n")[0]
    parser = LessonParser(description=first_paragraph, formatter_class=argparse.RawDescriptionHelpFormatter)
    if model_kind is not None:
        parser.add_argument("--model", default=None,
                            help=f"a Hub id or local folder (default: the offline {default_model(model_kind)})")
    if text is not None:
        parser.add_argument("--text", default=text, help=f"the input sentence (default: {text!r})")
    if image is not None:
        parser.add_argument("--image", default=image, help="an image file (default: a shipped example)")
    if layer is not None:
        described = {MIDDLE: "the middle layer, (layers − 1) // 2", LAST: "the last layer"}.get(layer, layer)
        parser.add_argument("--layer", type=_layer_value, default=layer,
                            help=f"layer index, negative from the end, or 'middle' / 'last' (default: {described})")
    if head is not None:
        parser.add_argument("--head", type=int, default=head, help=f"head index (default: {head})")
    parser.add_argument("--device", type=device_name, default=None,
                        help="cpu, cuda, cuda:0 ... (default: CUDA when present, else CPU)")
    parser.add_argument("--out", type=output_folder, default=None,
                        help="output folder (default: outputs/<tier>/<script>/)")
    parser.add_argument("--verbose", action="store_true",
                        help="show transformers' load report and progress bars (hidden by default)")
    return parser


def run_lesson(main, argv=None) -> int:
    """Call ``main(argv)``; print user errors as one line on stderr and return exit status 2.

    User errors are the course's own refusals (``ValueError``, ``TypeError``, :class:`ModelLoadError`, an index
    out of range) and what the operating system says about the user's files (``OSError``: a missing, unreadable or
    corrupt file, a full disk, a folder that cannot be written). Anything else is a bug and keeps its traceback.
    """
    from attnviz.models import ModelLoadError

    warnings.filterwarnings("ignore", category=FutureWarning)
    try:
        main(argv)
    except (ModelLoadError, ValueError, TypeError, OSError, IndexError) as err:
        message = " ".join(str(err).split()) or type(err).__name__  # one line, whatever the message held
        print(f"error: {message}", file=sys.stderr)
        return 2
    return 0
