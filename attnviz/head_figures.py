"""Figures of lesson 3.5 (``03_advanced/attention_entropy.py``): one number per head, and what happens as heads go.

- :func:`head_heatmap`: an ``(L, H)`` score (relative entropy, importance) as a layer × head grid, drawn with
  :func:`attnviz.plotting.show_heatmaps`;
- :func:`entropy_by_position_figure`: a causal model's row entropy by query position against ``log(q + 1)``;
- :func:`specialisation_figure`: each head's relative entropy against its importance, coloured by label;
- :func:`pruning_figure`: loss or accuracy as heads are removed, measured, predicted and in random orders.

The measurements are the lesson's; these only draw them.
"""

from __future__ import annotations

import numpy as np

from attnviz.plotting import show_heatmaps


def head_heatmap(values, title, colorbar_label, vmax):
    """One number per head, ``(L, H)``, as a layer × head heatmap (annotated when it is small)."""
    arr = np.asarray(values, dtype=float)  # (L, H)
    return show_heatmaps(arr, xlabels=[str(h) for h in range(arr.shape[1])],
                         ylabels=[str(layer) for layer in range(arr.shape[0])], titles=[title], xlabel="head",
                         ylabel="layer", vmin=0.0, vmax=vmax, colorbar_label=colorbar_label,
                         annotate=arr.size <= 80, tick_labels=True)


def entropy_by_position_figure(entropy, relative, heads, title: str, repeat: int | None = None):
    """Mean entropy by query position of the chosen ``heads`` (``((layer, head), colour)`` pairs) of a causal
    model, ``entropy`` ``(L, B, H, Q)`` in nats, against ``log(q + 1)``, the entropy of a uniform row over the
    visible keys; ``relative`` ``(L, H)`` goes into the legend, ``repeat`` marks where a repeat starts."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.0, 4.0), constrained_layout=True)
    positions = np.arange(entropy.shape[-1])
    ax.plot(positions, np.log(positions + 1), "k--", label="log(q + 1): uniform over the visible keys")
    for (layer, head), colour in heads:
        ax.plot(positions, entropy[layer, :, head].mean(0), color=colour,
                label=f"layer {layer}, head {head} (relative entropy {relative[layer, head]:.2f})")
    if repeat is not None:
        ax.axvline(repeat, color="0.6", lw=0.8)
        ax.text(repeat + 0.3, 0.1, "repeat starts", fontsize=8, color="0.4")
    ax.set_xlabel("query position q")
    ax.set_ylabel("entropy (nats)")
    ax.set_title(title)
    ax.legend(fontsize=8)
    return fig


def specialisation_figure(spec: dict, importance, title: str):
    """Each head (labelled ``layer.head``): relative entropy ``spec["mean"]`` ``(L, H)`` against
    ``importance`` ``(L, H)``, coloured by ``spec["label"]`` (from the lesson's ``specialisation``)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.4), constrained_layout=True)
    colours = {"specialised": "C0", "averaging": "C1", "input-dependent": "C3", "mixed": "C7"}
    for label, colour in colours.items():
        chosen = spec["label"] == label
        if chosen.any():
            ax.scatter(spec["mean"][chosen], importance[chosen], c=colour, label=label, s=40)
    for (layer, head), value in np.ndenumerate(importance):
        ax.annotate(f"{layer}.{head}", (spec["mean"][layer, head], value), fontsize=7, xytext=(3, 2),
                    textcoords="offset points")
    ax.set_xlabel("relative entropy (mean over sequences; 0 = one key, 1 = uniform)")
    ax.set_ylabel("importance (ℓ2-normalised per layer)")
    ax.set_title(title)
    ax.legend(fontsize=8)
    return fig


def pruning_figure(title, ylabel, curves: dict, n_heads: int, predicted=None, random_curves=None,
                   log: bool = False, chance: float | None = None):
    """Loss or accuracy ``(L·H + 1,)`` against the number of heads removed: the measured ``curves``
    (``{name: values}``), optionally the first-order ``predicted`` curve, the range and mean of
    ``random_curves`` ``(orders, L·H + 1)`` and a ``chance`` level; ``log`` puts the y axis on a log scale.

    On a log axis a value ≤ 0 has no place. Measured curves of a loss are positive; the Taylor prediction
    ``L(1) − Σ ∂L/∂ξ_h`` is not, and a prediction that dropped silently off the axis would hide exactly where
    it fails. So every predicted point below the axis's floor is drawn *on* the floor as a ▼ and named in an
    annotation with its true value (``fig.clipped_predictions`` lists them: ``[(heads removed, value)]``).
    The legend sits below the axes, where it cannot cover a curve.
    """
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.0, 5.0), constrained_layout=True)
    x = np.arange(n_heads + 1)
    shown = (lambda v: np.where(np.asarray(v) > 0, v, np.nan)) if log else np.asarray  # log axes: values > 0
    if random_curves is not None:
        lo, hi = np.min(random_curves, 0), np.max(random_curves, 0)
        ax.fill_between(x, shown(lo), shown(hi), color="0.8",
                        label=f"random orders (range of {len(random_curves)})")
        ax.plot(x, shown(np.mean(random_curves, 0)), color="0.45", lw=1.5, label="random orders (mean)")
    styles = {"least important first (measured)": "C0", "most important first (measured)": "C3"}
    for name, curve in curves.items():
        ax.plot(x, shown(curve), marker="o", ms=3, color=styles.get(name), label=name)
    floor = None
    if log:
        ax.set_yscale("log")
        floor = 0.3 * min(np.nanmin(shown(c)) for c in curves.values())  # measured curves set the scale
        ax.set_ylim(bottom=floor)  # a Taylor prediction far below the measured curves would squash them
    fig.clipped_predictions = []
    if predicted is not None:
        predicted = np.asarray(predicted, dtype=float)
        label = "least important first (first-order Taylor prediction)"
        if floor is None:
            ax.plot(x, predicted, ls="--", color="C0", label=label)
        else:
            below = predicted < floor  # ≤ 0, or positive but under the floor: both would be invisible
            ax.plot(x, np.where(below, np.nan, predicted), ls="--", color="C0", label=label)
            ax.set_ylim(floor, max(ax.get_ylim()[1], 1.5 * np.max(predicted)))  # the top fits it too
            if below.any():
                ax.plot(x[below], np.full(below.sum(), floor), ls="none", marker="v", ms=8, color="C0",
                        clip_on=False, label="Taylor prediction below the axis (drawn on its floor)")
                fig.clipped_predictions = [(int(k), float(predicted[k])) for k in np.flatnonzero(below)]
                first, value = fig.clipped_predictions[0]
                ax.annotate(f"prediction {value:+.3g} at {first} removed"
                            + (f" (and {below.sum() - 1} more below the axis)" if below.sum() > 1 else ""),
                            (first, floor), xytext=(-10, 18), textcoords="offset points", ha="right",
                            fontsize=8, color="C0", arrowprops=dict(arrowstyle="->", color="C0"))
    if chance is not None:
        ax.axhline(chance, color="0.3", ls=":", lw=1, label=f"chance ({chance:.0%})")
    ax.set_xlabel("heads removed")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    fig.legend(*ax.get_legend_handles_labels(), loc="outside lower center", ncol=2, fontsize=8)
    return fig
