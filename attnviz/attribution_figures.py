"""Figures and captions of the attribution lessons: 3.6 ``03_advanced/integrated_attention.py`` and 3.2
``03_advanced/gradient_attention.py``.

Lesson 3.6 (integrated gradients, attention attribution):

- :func:`ig_tokens_figure`, :func:`ig_tokens_caption`: IG per token, titled with its completeness check;
- :func:`completeness_figure`, :func:`completeness_caption`: the completeness error against the number of
  steps, and the sentence written from the numbers the lesson's ``completeness_summary`` measures;
- :func:`attribution_grid_figure`, :func:`attribution_grid_caption`: raw attention and attention attribution
  of every layer, two rows with a colour bar each;
- :func:`attribution_layer_figure`, :func:`attribution_layer_caption`: the layer with the most attribution,
  and the special tokens' share of its attention and of its attribution (``attribution_layer_facts``);
- :func:`rank_correlation_table`, :func:`rank_correlation_figure`, :func:`agreement_caption`: the Spearman
  correlations of ``compare_with_attention`` as a table, a plot and a sentence;
- :func:`four_answers_figure`: four answers to "which tokens matter?" as bars.

Lesson 3.2 (gradient-weighted attention): :func:`relevance_overlay_figure` (patch maps as iso-lines over the
image) and :func:`object_mask_for` (the shipped test image's object mask).

The measurements are the lessons'; these only draw and word them. This module sits below the lessons and
never imports one: the lessons' results come in as arguments.
"""

from __future__ import annotations

import numpy as np

from attnviz.plotting import DEFAULT_CMAP, show_heatmaps, token_bars
from attnviz.validate import check_attention, check_tokens, to_numpy

RANK_CORRELATIONS_CSV_CAPTION = ("Spearman correlations over the content tokens, per layer: IG and attention "
                                 "attribution against raw attention and each other, and both against rollout.")
FOUR_ANSWERS_CAPTION = ("The same question answered four ways for the mean-pooled embedding: raw attention of "
                        "the last layer, rollout, integrated gradients, and attention attribution summed over "
                        "layers (special tokens set to 0 for all).")


# ================================================================= lesson 3.6: IG on the token embeddings
def ig_tokens_figure(ig: dict, tokens):
    """IG per token of the first example (``ig["tokens"][0]``, ``(T,)``) as signed bars, titled with the
    completeness check: ``Σ`` against ``F(x) − F(x')``, its error and the steps it took."""
    change = float(ig["output"][0] - ig["baseline_output"][0])
    return token_bars(ig["tokens"][0], tokens, ylabel="IG attribution (similarity units)",
                      color_by_sign=True,
                      title=f"IG: Σ = {ig['tokens'][0].sum():.4f} vs F(x) − F(x') = {change:.4f} "
                            f"(error {100 * ig['relative_error'][0]:.2f} %, {ig['n_steps']} steps)")


def ig_tokens_caption(reference: str, ig: dict) -> str:
    """The caption of :func:`ig_tokens_figure`: what ``F`` is and how well completeness holds."""
    return (f"Integrated gradients of the cosine similarity to “{reference}” "
            "with respect to each token's embedding ([MASK] baseline, special tokens kept). "
            f"Completeness: the bars add up to F(x) − F(baseline) within "
            f"{100 * ig['relative_error'][0]:.2f} % ({ig['n_steps']} Gauss–Legendre steps).")


def completeness_figure(steps, runs: dict):
    """The completeness error (%) against the number of ``steps`` on log–log axes, one line per method of
    ``runs`` (``{method: (n,)}`` relative errors), with the 1 % tolerance drawn."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.0, 3.8), constrained_layout=True)
    for method, errors in runs.items():
        ax.loglog(steps, np.maximum(100 * np.array(errors), 1e-6), marker="o", label=method)
    ax.axhline(1.0, color="0.4", ls="--", lw=0.8)
    ax.text(steps[0], 1.1, "1 % (our tolerance)", fontsize=8)
    ax.set_xticks(steps, [str(k) for k in steps])
    ax.minorticks_off()
    ax.set_xlabel("integration steps")
    ax.set_ylabel("|Σ IG − (F(x) − F(x'))| / |F(x) − F(x')|  (%)")
    ax.set_title("Completeness error vs steps")
    ax.legend(fontsize=8)
    return fig


def completeness_caption(steps, runs: dict, first_within: dict, worse_at, tolerance: float = 0.01) -> str:
    """The sentence the completeness plot states, from the lesson's numbers: from how many ``steps`` each
    method is within ``tolerance`` (``first_within``: ``{method: steps or None}``), and the step counts
    ``worse_at`` where Gauss–Legendre is the worse of the two (``runs``: ``{method: (n,)}`` errors)."""
    gl, rr = runs["gausslegendre"], runs["riemann_right"]

    def reach(method, name):
        k = first_within[method]
        return f"{name} is within {100 * tolerance:g} % from {k} steps on" if k is not None else \
            f"{name} is not within {100 * tolerance:g} % up to {steps[-1]} steps"

    gauss, riemann = reach("gausslegendre", "Gauss–Legendre (Captum's default)"), reach("riemann_right",
                                                                                      "the right Riemann sum")
    caption = f"Completeness error against the number of steps: {gauss}, {riemann}. "
    if worse_at:
        each = [f"{k} steps ({100 * gl[steps.index(k)]:.1f} % vs {100 * rr[steps.index(k)]:.1f} %)"
                for k in worse_at]
        at = each[0] if len(each) == 1 else ", ".join(each[:-1]) + " and " + each[-1]
        caption += (f"Gauss–Legendre is not faster at every budget: it is the worse of the two at {at} — "
                    "its nodes pay off only once there are enough of them to follow the curve.")
    else:
        caption += "Gauss–Legendre is the more accurate at every step count tried."
    return caption


# ================================================================= lesson 3.6: attention attribution
def attribution_grid_figure(raw, positive, tokens):
    """Two rows of ``L`` heatmaps — raw attention ``(L, Q, K)`` on a 0–1 scale, attribution ``(L, Q, K)`` as a
    fraction of each layer's maximum — with one colour bar per row (two quantities, two scales) and the
    tokens on the axes."""
    import matplotlib.pyplot as plt

    raw = check_attention(raw, "LQK", name="raw", square=True)
    positive = check_attention(positive, "LQK", name="positive", stochastic=False)
    if positive.shape != raw.shape or positive.max() > 1 + 1e-9:
        raise ValueError(f"positive: got shape {positive.shape}, max {positive.max():.3g}; expected "
                         f"{raw.shape} like raw, each layer divided by its maximum (values in 0..1)")
    tokens = check_tokens(tokens, raw.shape[-1])
    n_layers, n = raw.shape[0], raw.shape[-1]
    panel = max(2.2, 0.19 * n + 0.8)
    fig, axes = plt.subplots(2, n_layers, figsize=(panel * n_layers + 1.6, 2 * panel + 1.6), squeeze=False,
                             constrained_layout=True)
    rows = (("raw attention (head mean)", raw, "attention weight (0–1)"),
            ("attention attribution (Σ heads, positive part)", positive, "attribution ÷ the layer's maximum"))
    for r, (name, maps, label) in enumerate(rows):
        for layer in range(n_layers):
            ax = axes[r, layer]
            image = ax.imshow(maps[layer], cmap=DEFAULT_CMAP, vmin=0, vmax=1, aspect="auto",
                              interpolation="nearest")
            ax.set_title(f"{name.split(' (')[0]}, layer {layer}", fontsize=8)
            ax.set_xticks(range(n), tokens, rotation=90, fontsize=6)
            ax.set_yticks(range(n), tokens if layer == 0 else [""] * n, fontsize=6)
        fig.colorbar(image, ax=list(axes[r]), shrink=0.9, pad=0.01).set_label(label, fontsize=8)
    fig.supxlabel("key (attended to)", fontsize=9)
    fig.supylabel("query (attending)", fontsize=9)
    fig.suptitle("Where the heads look (top) vs which weights the similarity depends on (bottom)")
    return fig


def attribution_grid_caption(negative_share: float) -> str:
    """The caption of :func:`attribution_grid_figure`, with the share of the attribution mass that is
    negative (and so not drawn)."""
    return ("Top: each layer's attention (head mean), 0–1 scale. Bottom: Hao et al. attribution "
            "A ⊙ ∫∂F(αA)/∂A dα summed over heads, positive part over the layer maximum "
            f"({100 * negative_share:.0f} % of the attribution mass is negative and not shown). One colour "
            "bar per row: two quantities, two scales.")


def attribution_layer_figure(raw, positive, tokens, layer: int):
    """One layer side by side: its raw attention ``(Q, K)`` (head mean) and its positive attribution ``(Q, K)``
    over the layer's maximum, on one 0–1 scale, tokens on the axes."""
    return show_heatmaps(np.stack([raw, positive])[None], xlabels=tokens,  # (1, 2, Q, K)
                         ylabels=tokens, tick_labels=True,
                         titles=[f"raw attention, layer {layer}", f"attribution, layer {layer}"],
                         colorbar_label="weight / attribution ÷ max",
                         suptitle=f"The layer with the most attribution (layer {layer})")


def attribution_layer_caption(facts: dict) -> str:
    """The caption of :func:`attribution_layer_figure`, from the lesson's ``attribution_layer_facts``: the
    special tokens' share of the layer's attention against their share of its |attribution|, and which way
    that comparison goes."""
    fewer = facts["attribution_on_special"] < facts["attention_on_special"]
    return (f"Layer {facts['layer']}, the layer whose weights carry the "
            f"most attribution: the special tokens ([CLS], [SEP]) get "
            f"{100 * facts['attention_on_special']:.0f} % of its attention (mean over the real rows) "
            f"but {100 * facts['attribution_on_special']:.0f} % of its |attribution| — "
            + ("heavy attention on them earns comparatively little attribution; the weights on the "
               "content words carry the rest." if fewer else
               "here the attribution follows the attention onto them, against the usual story."))


# ================================================================= lesson 3.6: agreement with attention
def rank_correlation_table(table: dict):
    """``compare_with_attention``'s numbers as a ``pandas.DataFrame``, one row per layer (the two rollout
    correlations, one number each, repeated on every row)."""
    import pandas as pd

    return pd.DataFrame({"layer": np.arange(len(table["ig_vs_raw"])), "IG vs raw attention": table["ig_vs_raw"],
                         "attention attribution vs raw attention": table["attr_vs_raw"],
                         "attention attribution vs IG": table["attr_vs_ig"],
                         "IG vs rollout": table["ig_vs_rollout"],
                         "attention attribution (all layers) vs rollout": table["attr_vs_rollout"]})


def rank_correlation_figure(frame, table: dict):
    """The per-layer correlations of :func:`rank_correlation_table` as lines, the two rollout correlations as
    horizontal lines, on the full −1..1 scale of Spearman's ρ."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 3.8), constrained_layout=True)
    for column in ("IG vs raw attention", "attention attribution vs raw attention",
                   "attention attribution vs IG"):
        ax.plot(frame["layer"], frame[column], marker="o", label=column)
    ax.axhline(table["ig_vs_rollout"], color="k", ls="--", lw=1, label="IG vs rollout (all layers)")
    ax.axhline(table["attr_vs_rollout"], color="0.5", ls=":", lw=1.5,
               label="attention attribution, all layers, vs rollout")
    ax.axhline(0, color="0.6", lw=0.6)
    ax.set_ylim(-1, 1)
    ax.set_xlabel("layer")
    ax.set_ylabel("Spearman ρ over content tokens")
    ax.set_title("Do gradients agree with attention?")
    ax.legend(fontsize=7)
    return fig


def agreement_caption(table: dict) -> str:
    """The sentence the rank-correlation figure states, from :func:`compare_with_attention`'s numbers: how
    far IG's agreement with raw attention swings between layers, and how well rollout tracks IG."""
    ig_raw = np.asarray(table["ig_vs_raw"], dtype=float)
    if not np.isfinite(ig_raw).any():
        return "IG cannot be ranked against raw attention here (a constant row)."
    low, high = int(np.nanargmin(ig_raw)), int(np.nanargmax(ig_raw))
    rollout = table["ig_vs_rollout"]
    return (f"IG's agreement with raw attention swings from ρ = {ig_raw[low]:+.2f} (layer {low}) to "
            f"{ig_raw[high]:+.2f} (layer {high}); against rollout ρ = {rollout:+.2f}"
            + (", below the best single layer." if np.isfinite(rollout) and rollout < ig_raw[high] else "."))


def rank_correlation_caption(table: dict) -> str:
    """The caption of :func:`rank_correlation_figure`: what is correlated, then :func:`agreement_caption`."""
    return ("Spearman rank correlation, over the content tokens of one "
            "sentence, of IG with each layer's raw attention (mean row) and with rollout, and of "
            "each layer's attention attribution with its raw attention and with IG. "
            f"{agreement_caption(table)} One sentence is an anecdote: attention_faithfulness.py "
            "averages over many.")


def four_answers_figure(series: dict, tokens):
    """``{name: (K,)}`` per-token answers as grouped bars, each scaled to ``Σ|·| = 1``."""
    return token_bars(series, tokens, normalize="abs_sum", ylabel="share of the total |value|",
                      title="Four answers to “which tokens matter?” (content tokens, each scaled to Σ|·| = 1)")


# ================================================================= lesson 3.2: patch maps on the image
def object_mask_for(image_path, size: int, processor=None) -> np.ndarray | None:
    """The true object's pixel mask ``(size, size)`` for a shipped test image (``masks.npz`` beside it), or
    ``None`` for any other image."""
    from pathlib import Path

    from attnviz.kinds import resize_masks

    image_path = Path(image_path)
    stored = image_path.parent / "masks.npz"
    if not stored.is_file():
        return None
    data = np.load(stored)
    files = [str(f) for f in data["files"]]
    if image_path.name not in files:
        return None
    return resize_masks(data["masks"][files.index(image_path.name)][None], size, processor)[0]  # (S, S)


def relevance_overlay_figure(image, maps: dict, patch: int, title: str, levels=(0.2, 0.4, 0.6, 0.8)):
    """The input image in grey with each patch map drawn over it as coloured iso-lines.

    ``image``: ``(S_h, S_w)`` grey pixels; ``maps``: ``{panel title: (g_h, g_w)}``, each divided by its
    maximum before drawing; the line at level ``v`` joins the points where the map is ``v`` of its maximum
    (linear between patch centres). The colour bar is made from the lines themselves, so every colour in the
    picture is on it — a translucent heatmap over a picture would blend into colours that are not.
    """
    import matplotlib.pyplot as plt

    image = to_numpy(image, "image")
    if not isinstance(maps, dict) or not maps:
        raise TypeError(f"maps: expected a dict {{panel title: (g_h, g_w) map}}, got {type(maps).__name__}")
    if image.ndim != 2:
        raise ValueError(f"image: got shape {image.shape}; expected (height, width) grey pixels")
    if isinstance(patch, bool) or not isinstance(patch, int | np.integer) or patch < 1:
        raise ValueError(f"patch: got {patch!r}; expected the patch size in pixels (a positive integer)")
    fig, axes = plt.subplots(1, len(maps), figsize=(3.6 * len(maps) + 1.2, 4.0), squeeze=False,
                             constrained_layout=True)
    lines = None
    for ax, (name, grid) in zip(axes[0], maps.items()):
        grid = check_attention(grid, "QK", name="maps", stochastic=False)  # (g_h, g_w): finite, >= 0
        peak = grid.max()
        shown = grid / peak if peak > 0 else grid  # (g_h, g_w), 0..1
        ax.imshow(image, cmap="gray", vmin=0, vmax=255, extent=(0, image.shape[1], image.shape[0], 0))
        centres_x = (np.arange(grid.shape[1]) + 0.5) * patch  # (g_w,) pixel x of each patch centre
        centres_y = (np.arange(grid.shape[0]) + 0.5) * patch  # (g_h,)
        lines = ax.contour(centres_x, centres_y, shown, levels=list(levels), cmap=DEFAULT_CMAP, vmin=0,
                           vmax=1, linewidths=2.0)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("pixel x")
    axes[0, 0].set_ylabel("pixel y")
    fig.colorbar(lines, ax=list(axes[0]), shrink=0.85).set_label("iso-line: fraction of the map's maximum")
    fig.suptitle(title, fontsize=10)
    return fig
