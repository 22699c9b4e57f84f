"""Captions, checks and file plumbing of lesson 3.5 (``03_advanced/attention_entropy.py``).

The lesson keeps what it teaches (entropy, confidence, specialisation, importance, pruning, and the
measurements its captions state); this module turns those numbers into sentences and files:

- :func:`head_scores`, :func:`check_order`: argument checks of one-number-per-head arrays and pruning orders;
- :func:`grows`, :func:`causal_caption`: whether a causal head's raw entropy grows with position, in words;
- :func:`encoder_caption`, :func:`specialisation_caption`, :func:`pruning_caption`,
  :func:`vit_pruning_caption`: the captions, filled from the measured numbers;
- :func:`entropy_args`, :func:`check_models`: the lesson's command line and its up-front model checks;
- :func:`write_heads_table`: every tiny-GPT-2 head in one CSV.

The figures themselves are in :mod:`attnviz.head_figures`. Nothing here imports a lesson.
"""

from __future__ import annotations

import numpy as np

from attnviz.validate import to_numpy


# ============================================================================ argument checks
def head_scores(values, name: str, ndim: int, *, allow_nan: bool = False) -> np.ndarray:
    """One number per head (``(L, H)``, or ``(L, B, H)`` with ``ndim=3``) as a float array, checked: the
    right number of axes, not empty, no Inf (and no NaN unless ``allow_nan``)."""
    arr = to_numpy(values, name)
    if not np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.complexfloating):
        raise TypeError(f"{name}: got an array of {arr.dtype}; expected real numbers")
    axes = "(layers, heads)" if ndim == 2 else "(layers, examples, heads)"
    if arr.ndim != ndim or arr.size == 0:
        raise ValueError(f"{name}: got shape {arr.shape}; expected a non-empty {axes} array")
    arr = arr.astype(float)
    bad = np.isinf(arr) if allow_nan else ~np.isfinite(arr)
    if bad.any():
        what = "Inf" if allow_nan else "NaN or Inf"
        raise ValueError(f"{name}: contains {what} ({int(bad.sum())} values); expected finite numbers")
    return arr


def check_order(order, shape: tuple[int, int]) -> np.ndarray:
    """``order`` as an ``(n, 2)`` int array of (layer, head) pairs inside ``shape`` = (layers, heads)."""
    arr = to_numpy(order, "order")
    if arr.ndim != 2 or arr.shape[1] != 2 or not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)):
        raise ValueError(f"order: got shape {arr.shape}; expected (n, 2) integer pairs of (layer, head), as "
                         "pruning_order returns")
    arr = arr.astype(int)
    if arr.size and (arr.min() < 0 or np.any(arr.max(0) >= np.asarray(shape))):
        raise ValueError(f"order: a (layer, head) pair is out of range; expected layers 0..{shape[0] - 1} "
                         f"and heads 0..{shape[1] - 1}")
    return arr


# ============================================================================ captions from the numbers
def encoder_caption(relative: np.ndarray) -> str:
    """The broadest and sharpest layer and the sharpest single head of an encoder, from its ``(L, H)``
    relative entropies."""
    by_layer = relative.mean(1)  # (L,)
    sharpest = np.unravel_index(np.argmin(relative), relative.shape)
    return ("Relative entropy of every MiniLM head (masked: padding rows and keys left out). Layer "
            f"{int(np.argmax(by_layer))} is the broadest on average ({by_layer.max():.2f}), layer "
            f"{int(np.argmin(by_layer))} the sharpest ({by_layer.min():.2f}); the sharpest single head is "
            f"{'.'.join(map(str, sharpest))} (layer.head).")


def grows(first: float, last: float) -> bool:
    """Our word for "grows": the last quarter's mean entropy is over 1.25 × the first's (+ 0.05 nats)."""
    return last > 1.25 * first + 0.05


def causal_caption(growth: dict, broadest, sharpest) -> str:
    """Whether raw entropy grows with position, for the broadest and the sharpest head, from the numbers."""
    def said(head):
        first, last = growth[head]
        verb = "grows" if grows(first, last) else "does not grow"
        return f"({head[0]}.{head[1]}) {verb}: {first:.2f} → {last:.2f} nats"
    return (f"From the first to the last quarter of positions the broadest head {said(broadest)}, the "
            f"sharpest {said(sharpest)}. Raw nats mix up how many keys a row can see with how sharp the head "
            "is, which is why the relative entropy divides each row by its own log n.")


def specialisation_caption(rho_entropy: float, spec: dict, importance: np.ndarray) -> str:
    """Whether the heads the loss needs are the sharp ones, from Spearman(importance, relative entropy) and
    the mean importance of the specialised heads against the rest."""
    chosen = spec["label"] == "specialised"
    if rho_entropy < -0.5:
        verdict = "the sharper a head, the more the loss needs it"
    elif rho_entropy > 0.5:
        verdict = "the broader a head, the more the loss needs it — the opposite of Voita et al.'s finding"
    else:
        verdict = "sharpness says little about what the loss needs here"
    ratio = (f" Specialised heads: mean importance {importance[chosen].mean():.2f}, the others "
             f"{importance[~chosen].mean():.2f}." if chosen.any() and (~chosen).any() else "")
    return f"Spearman(importance, relative entropy) = {rho_entropy:+.2f}: {verdict}.{ratio}"


def pruning_caption(summary: dict) -> str:
    """The cliff of a pruning curve and whether the Taylor prediction sees it, from ``pruning_summary``."""
    if summary["cliff"] is None:
        return "The loss never grows tenfold, whatever goes first."
    sees = ("sees it" if summary["sees_it"] else "does not see it: redundant heads cover for each other, so "
            "each one's gradient is ≈ 0 until the last of them goes")
    return (f"In importance order the first {summary['free']} heads go almost for free (the loss stays under "
            f"ten times its intact value); at "
            f"{summary['cliff']} removed the loss is {summary['measured']:.3g} nats, and the Taylor "
            f"prediction ({summary['predicted']:.3g}) {sees}.")


def vit_pruning_caption(name: str, score: str, own_task: bool, random_orders: int, measured, randoms,
                        reverse) -> str:
    """A ViT's pruning curves in words: the score with half the heads gone, in each order, and whether the
    importance order beats the random orders' mean. ``randoms`` is ``(orders, L·H + 1)``."""
    half = (len(measured) - 1) // 2
    target = ("its 200 shipped test images" if own_task else
              "the 200 shipped shape images, scored task-agnostically: its labels are not the shapes "
              "task's, so the target is its own prediction with every head on (cross-entropy against it "
              "for importance, agreement with it as heads go; 100% intact by construction)")
    keeps = "keeps more than" if measured[half] > randoms[:, half].mean() else "keeps no more than"
    return (f"{score.capitalize()} of {name} on {target} as heads are removed in order of Michel importance "
            f"(measured on 200 other images), in reverse, and in {random_orders} random orders. With half "
            f"the heads gone: {measured[half]:.0%} by importance, {randoms[:, half].mean():.0%} at random, "
            f"{reverse[half]:.0%} most important first — the importance order {keeps} the random orders' "
            "mean.")


# ============================================================================ command line and files
def entropy_args(doc: str, argv=None):
    """The lesson's command line, parsed: an encoder, a decoder, an image classifier and the number of random
    pruning orders (at least 1, checked here, before any output is written)."""
    from attnviz.cli import lesson_parser

    parser = lesson_parser(doc, model_kind=None)
    parser.add_argument("--model", "--encoder", dest="encoder", default=None,
                        help="encoder for the entropy part (default: the offline MiniLM)")
    parser.add_argument("--causal-model", default=None, help="decoder-only model (default: "
                                                             "tiny-gpt2-induction)")
    parser.add_argument("--vit-model", default=None, help="image classifier (default: tiny-vit-shapes)")
    parser.add_argument("--random-orders", type=int, default=5, help="random pruning orders to compare "
                                                                     "(default: 5)")
    args = parser.parse_args(argv)
    if args.random_orders < 1:
        raise ValueError(f"--random-orders: got {args.random_orders}; expected at least 1")
    return args


def check_models(args) -> None:
    """Refuse, before any work, in one line naming its option, a model that cannot load or is of the wrong
    kind (the defaults always fit)."""
    from attnviz.kinds import require_vision_transformer
    from attnviz.models import require_kind

    require_kind(args.encoder, "encoder", option="--model")
    require_kind(args.causal_model, "causal-lm", option="--causal-model")
    if args.vit_model is not None:
        require_kind(args.vit_model, "vit", option="--vit-model")
        require_vision_transformer(args.vit_model, option="--vit-model")


def write_heads_table(out, columns: dict, shape: tuple[int, int]) -> None:
    """Every tiny-GPT-2 head in one CSV (``gpt2_heads.csv``): one row per (layer, head), one column per
    ``(L, H)`` array of ``columns``."""
    import pandas as pd

    rows = [{"layer": layer, "head": head, **{name: values[layer, head] for name, values in columns.items()}}
            for layer, head in np.ndindex(shape)]  # one row per (layer, head)
    pd.DataFrame(rows).round(4).to_csv(out.path("gpt2_heads.csv"), index=False)
    out.register("gpt2_heads.csv", "Every tiny-GPT-2 head: entropy (nats and relative), confidence, spread "
                 "across inputs, specialisation label and Michel importance.")


# ============================================================================ whole captions of the figures
def causal_figure_caption(name: str, growth: dict, broadest, sharpest) -> str:
    """Caption of the entropy-by-position figure: what it shows, then :func:`causal_caption`."""
    return (f"Entropy of two {name} heads by query position, mean over sequences, against log(q+1), the "
            "entropy of a uniform row over the visible keys. " + causal_caption(growth, broadest, sharpest))


IMPORTANCE_CAPTION = ("Michel et al. head importance of the tiny GPT-2 on held-out repeated sequences: "
                      "|∂loss/∂ξ_h| per example, averaged, each layer divided by its ℓ2 norm.")


def specialisation_figure_caption(name: str, rho_entropy: float, spec: dict, importance) -> str:
    """Caption of the specialisation scatter: what it shows, then :func:`specialisation_caption`."""
    return (f"Each {name} head (label layer.head): relative entropy against Michel importance, coloured by "
            "specialisation (sharp and consistent across inputs, averaging, input-dependent). "
            + specialisation_caption(rho_entropy, spec, importance))


def gpt2_pruning_caption(name: str, random_orders: int, summary: dict) -> str:
    """Caption of the tiny GPT-2's pruning curves: what they show, then :func:`pruning_caption`."""
    return (f"Loss of {name} (log scale) as heads are removed: least important first (measured, and the "
            "first-order Taylor prediction from the same gradients), most important first, and in "
            f"{random_orders} random orders. " + pruning_caption(summary))


def vit_texts(own_task: bool) -> tuple[str, str, str]:
    """What a ViT's pruning is scored by, its y-axis label and its importance caption's target: the shapes
    task's accuracy for the tiny ViT, agreement with its own unpruned predictions for any other model."""
    if own_task:
        return "accuracy", "accuracy on held-out images", "on held-out images"
    return ("agreement with its own unpruned predictions", "agreement with the unpruned model's predictions",
            "against its own predictions")
