"""Figures, captions and plumbing of lesson 3.7 (``03_advanced/attention_faithfulness.py``).

- :data:`LAYERED`, :data:`METHODS` and :func:`check_methods`: the method names the lesson knows, and the
  check that refuses a misspelt one;
- :func:`standard_error`: the spread the figures draw as bars and the captions quote;
- :func:`faithfulness_figure`, :func:`encoder_caption`, :func:`gpt2_caption`: agreement with leave-one-out
  per layer (Spearman's ρ and top-1), and the two sentences written from the lesson's numbers;
- :func:`randomisation_figure`, :func:`randomisation_caption`: the cascading randomisation curves and their
  verdict;
- :func:`results_table`, :func:`print_report`, :func:`add_arguments`: the CSV rows, the printed table and
  the lesson's command-line options.

The measurements (leave-one-out, each method's row, the scores, rollout's mixing, the randomisation check)
are the lesson's; these only draw and word them. This module sits below the lessons and never imports one:
the lesson's results come in as arguments.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

LAYERED = ("raw attention", "rollout", "flow", "gradient-weighted")
METHODS = (*LAYERED, "integrated gradients")  # the names method_rows, faithfulness, randomisation_check know
STYLES = {"raw attention": ("o", "-"), "rollout": ("s", "--"), "flow": ("^", "-."),
          "gradient-weighted": ("D", ":")}
PAPER_LEVEL = 0.7  # Abnar & Zuidema's rollout and flow in the top layers
REACHED = 0.5  # what we call "close to the paper"


def check_methods(methods: Sequence[str] | None) -> set[str]:
    """The set of method names asked for; ``None`` means all of :data:`METHODS`. A name that is not one of
    them (``"Rollout"`` for ``"rollout"``) is refused rather than silently giving no result."""
    if methods is None:
        return set(METHODS)
    if isinstance(methods, str) or not all(isinstance(m, str) for m in methods):
        raise TypeError(f"methods: got {methods!r}; expected a list of names from {', '.join(METHODS)}")
    unknown = [m for m in methods if m not in METHODS]
    if unknown or not methods:
        got = f"unknown {', '.join(map(repr, unknown))}" if unknown else "an empty list"
        raise ValueError(f"methods: got {got}; expected names from {', '.join(map(repr, METHODS))} "
                         "(case and spaces matter) or None for all")
    return set(methods)


def standard_error(per_example: np.ndarray) -> np.ndarray:
    """Standard error of the mean over examples (axis 0), ignoring NaN: ``std(ddof=1) / sqrt(n)``; 0 for one
    example (no spread to estimate)."""
    arr = np.asarray(per_example, dtype=float)  # (n, L)
    n = np.sum(np.isfinite(arr), axis=0)  # (L,)
    with np.errstate(invalid="ignore", divide="ignore"):
        spread = np.nanstd(arr, axis=0, ddof=1) if arr.shape[0] > 1 else np.zeros(arr.shape[1])
        return np.where(n > 1, spread / np.sqrt(np.maximum(n, 1)), 0.0)


def faithfulness_figure(result: dict, title: str):
    """Mean over examples per layer, with ± one standard error (bars) — a handful of examples is noisy."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11.5, 4.6), constrained_layout=True)
    panels = ((axes[0], "scores", "per_example", "Spearman ρ with leave-one-out", -1.0),
              (axes[1], "top1", "top1_per_example", "top-1 agreement with leave-one-out", 0.0))
    for ax, key, spread_key, ylabel, low in panels:
        scores = result[key]
        n_layers = len(scores.get("raw attention", [0]))
        layered = [name for name in LAYERED if name in scores]
        for i, name in enumerate(layered):  # distinct markers, dashes, small offsets: no curve hides another
            marker, dashes = STYLES[name]
            x = np.arange(1, len(scores[name]) + 1) + 0.08 * (i - (len(layered) - 1) / 2)
            ax.errorbar(x, scores[name], yerr=standard_error(result[spread_key][name]), marker=marker,
                        ls=dashes, ms=7, mfc="none", capsize=3, label=name)
        for name, values in scores.items():
            if name not in LAYERED:
                se = float(standard_error(result[spread_key][name])[0])
                ax.axhline(values[0], ls="--", color="k", lw=1, label=f"{name} (no layers; ± {se:.2f})")
        ax.axhline(0, color="0.6", lw=0.6)
        ax.set_xticks(np.arange(1, n_layers + 1))
        ax.set_ylim(low - 0.03, 1.03)
        ax.set_xlabel("layer l (raw: layer l alone; the others: layers 1..l)")
        ax.set_ylabel(ylabel)
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center", ncol=5, fontsize=8)
    fig.suptitle(title + " — mean ± one standard error over the examples")
    return fig


def encoder_caption(result: dict, mixing: dict, n_examples: int) -> str:
    """The encoder figure's caption, every number from ``result`` (the lesson's ``faithfulness``) and
    ``mixing`` (its ``rollout_mixing``)."""
    scores, spread = result["scores"], result["per_example"]
    ranges = {name: (float(np.min(scores[name])), float(np.max(scores[name])))
              for name in ("rollout", "flow") if name in scores}
    best_of_both = max((hi for _, hi in ranges.values()), default=float("nan"))
    verdict = (f"here they come close (best {best_of_both:+.2f})" if best_of_both >= REACHED else
               f"here they do not: they never pass {best_of_both:+.2f}")
    parts = [f"{name} ρ between {lo:+.2f} and {hi:+.2f}" for name, (lo, hi) in ranges.items()]
    final = {name: float(values[-1]) for name, values in scores.items()}
    best = max(final, key=final.get)
    best_se = float(standard_error(spread[best])[-1])
    diagonal = mixing["diagonal"]
    fades = "falls below" if diagonal[-1] < mixing["uniform"] else "stays above"
    return (f"F = cosine similarity to a reference sentence, [MASK] blank, {n_examples} sentence pairs, "
            "mean row (mean pooling); points are means over the pairs, bars ± one standard error. Left: "
            "Spearman ρ with leave-one-out per layer; right: how often the map's top token is "
            "leave-one-out's. Abnar & Zuidema (2020, Table 1) found rollout and flow rising with depth to "
            f"about {PAPER_LEVEL}; {verdict} ({'; '.join(parts)}). At the last layer {best} agrees best "
            f"(ρ = {final[best]:+.2f} ± {best_se:.2f}). Why rollout has little to offer here: its diagonal "
            f"over the words fades from {diagonal[0]:.2f} to {diagonal[-1]:.3f} and {fades} uniform "
            f"(1/n ≈ {mixing['uniform']:.3f}), and {mixing['unscored_share']:.0%} of its mean row sits on "
            "the special tokens, which are not scored — the words share the rest in small, similar amounts.")


def gpt2_caption(result: dict, n_examples: int, matter: np.ndarray, sparse: float) -> str:
    """The decoder figure's caption, every number from ``result`` (the lesson's ``faithfulness``) and
    ``matter`` (its ``tokens_that_matter``: per example, how many tokens change ``F`` by at least ``sparse``
    of the largest change)."""
    scored = np.mean([np.isfinite(loo).sum() for loo in result["loo"]])
    final = {name: float(values[-1]) for name, values in result["scores"].items()}
    found = round(result["top1"]["raw attention"][-1] * n_examples)
    low, high = min(final, key=final.get), max(final, key=final.get)
    return (f"F = logit of the token the induction head should copy, <unk> blank, last row, {n_examples} "
            "sequences; bars ± one standard error. Leave-one-out is sparse: blanking "
            f"{matter.mean():.1f} of {scored:.0f} tokens on average changes F by at least {sparse:.0%} of "
            "the largest change, so Spearman over all tokens mostly ranks noise — at the last layer it "
            f"ranges from {final[low]:+.2f} ({low}) to {final[high]:+.2f} ({high}). Right: top-1 agreement "
            f"— the last layer's raw attention finds the token that matters most in {found} of {n_examples} "
            "sequences.")


def randomisation_figure(curves: dict, n_blocks: int, title: str):
    """The cascading randomisation curves ``{name: (n_blocks + 2,)}``: ρ with the trained model's map."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.8, 4.0), constrained_layout=True)
    for name, values in curves.items():
        ax.plot(np.arange(n_blocks + 2), values, marker="o", label=name)
    labels = ["trained"] + [f"top {k}" for k in range(1, n_blocks + 1)] + ["+ embeddings"]
    ax.set_xticks(np.arange(n_blocks + 2), labels, rotation=30)
    ax.axhline(0, color="0.6", lw=0.6)
    ax.set_ylim(-1.05, 1.05)
    ax.set_xlabel("blocks re-initialised (from the top)")
    ax.set_ylabel("Spearman ρ with the trained model's map")
    ax.set_title(title)
    ax.legend(fontsize=8)
    return fig


def randomisation_caption(curves: dict, n_blocks: int, n_examples: int, shared: str) -> str:
    """The randomisation figure's caption: which maps still correlate at ρ ≥ 0.5 with the trained map once
    every block is re-initialised (``curves[name][n_blocks]``); ``shared`` is the sentence on shared blocks
    (ALBERT) or ``""``."""
    all_blocks = {name: float(values[n_blocks]) for name, values in curves.items()}  # every block random
    stayed = [name for name, value in all_blocks.items() if value >= 0.5]
    verdict = (f"With every block re-initialised, {', '.join(stayed)} still correlate(s) at ρ ≥ 0.5 with the "
               "trained map — a failed sanity check for what the blocks learned." if stayed else
               "With every block re-initialised, no map keeps ρ ≥ 0.5 with the trained map.")
    return ("Cascading model randomisation (Adebayo et al. 2018): blocks re-initialised from the top, then the "
            "embeddings; Spearman correlation of each method's final map with the trained model's map, mean "
            f"over {n_examples} examples. " + verdict + shared)


def results_table(result: dict, model_name: str):
    """The rows of ``faithfulness.csv``: one per method and layer, Spearman and top-1 rounded to 4 places."""
    import pandas as pd

    rows = []
    for name, values in result["scores"].items():
        for layer, value in enumerate(values):
            rows.append({"model": model_name, "method": name,
                         "layer": layer + 1 if len(values) > 1 else "all",
                         "spearman_with_loo": round(float(value), 4),
                         "top1_agreement": round(float(result["top1"][name][layer]), 4)})
    return pd.DataFrame(rows)


def print_report(name: str, result: dict) -> None:
    """Print Spearman and top-1 agreement per method and layer."""
    print(f"{name}: mean Spearman with leave-one-out | top-1 agreement, per layer")
    for method, values in result["scores"].items():
        print(f"  {method:>22}: " + " ".join(f"{v:+.2f}" for v in values) + "  | "
              + " ".join(f"{v:.2f}" for v in result["top1"][method]))


def add_arguments(parser, default_reference: str) -> None:
    """The lesson's options beyond :func:`attnviz.cli.lesson_parser`'s."""
    parser.add_argument("--model", "--encoder", dest="encoder", default=None,
                        help="sentence encoder (default: the offline MiniLM)")
    parser.add_argument("--causal-model", default=None,
                        help="decoder-only model (default: tiny-gpt2-induction)")
    parser.add_argument("--text", action="append", default=None,
                        help="a sentence to explain with the encoder (repeat for several; default: six "
                             "built-in sentences, each with its own reference)")
    parser.add_argument("--reference", default=default_reference,
                        help="with --text: the sentence F compares with by cosine similarity (default: "
                             f"{default_reference!r})")
    parser.add_argument("--ig-steps", type=int, default=16,
                        help="integration steps IG starts from (doubled until completeness is within 1 %%)")
    parser.add_argument("--skip-randomisation", action="store_true",
                        help="skip the model-randomisation check")
