"""Figures, captions and input plumbing of lesson 2.2 (``02_intermediate/attention_rollout.py``).

- :func:`check_ratio`, :func:`layer_arrays`, :func:`pick_example`: the argument checks of ``AttentionRollout``
  — a discard ratio, any accepted attention input cut into per-layer arrays without a copy of the whole,
  and the example of a batch to draw;
- :func:`diagonal_caption`, :func:`fusion_caption`: caption sentences written from the numbers the lesson's
  ``diagonal_by_depth`` and ``fusion_entropies`` measure;
- :func:`rollout_heatmap`: ``AttentionRollout.visualize``'s drawing;
- :func:`save_rollout`, :func:`save_raw_vs_rollout`, :func:`save_rollout_by_layer`,
  :func:`save_cls_row`, :func:`save_fusion_grid`, :func:`save_wrong_order`, :func:`save_padded_batch`:
  the lesson's figures, each drawn with :func:`attnviz.plotting.show_heatmaps` or
  :func:`attnviz.plotting.token_bars`, saved with its caption into a :class:`attnviz.outputs.LessonOutputs`.

The measurements are the lesson's; these only check, draw and word them. This module sits below the lessons
and never imports one: the lesson's results come in as arguments.
"""

from __future__ import annotations

import numpy as np

from attnviz import validate
from attnviz.outputs import save_png
from attnviz.plotting import show_heatmaps, token_bars


# ------------------------------------------------------------------------------------------- arguments
def check_ratio(ratio, name: str = "discard_ratio") -> float:
    """A discard ratio: a real number in ``[0, 1)`` (``TypeError`` / ``ValueError`` naming ``name``)."""
    if isinstance(ratio, bool) or not isinstance(ratio, int | float | np.floating | np.integer):
        raise TypeError(f"{name}: expected a number in [0, 1), got {type(ratio).__name__}")
    if not 0.0 <= float(ratio) < 1.0:  # NaN fails this too
        raise ValueError(f"{name}: got {ratio}; expected a fraction in [0, 1) (0.1 drops the lowest 10%)")
    return float(ratio)


def layer_arrays(attention_layers) -> tuple[list[np.ndarray], bool]:
    """The layers of any accepted input as a list of ``(1, B, H, Q, K)`` arrays, and whether it was batched.

    Arrays and CPU tensors are not copied: a list's elements are taken one by one (no ``np.stack`` of the
    whole input), an array is cut into per-layer views. Shapes and types are checked here (§7); the weights
    themselves after fusion, in ``AttentionRollout._fuse``.
    """
    name = "attention_layers"
    if isinstance(attention_layers, list | tuple) and attention_layers and all(
            isinstance(a, np.ndarray) or hasattr(a, "detach") for a in attention_layers):
        shapes = [tuple(a.shape) for a in attention_layers]
        if len(shapes[0]) == 2:
            raise ValueError(f"{name}: each layer has shape {shapes[0]}, a (query, key) matrix without a "
                             "heads axis; if the heads are already fused, use "
                             "AttentionRollout.rollout_fused(), else pass (heads, query, key) or "
                             "(batch, heads, query, key) per layer")
        if len(shapes[0]) not in (3, 4):
            raise ValueError(f"{name}: each layer has shape {shapes[0]}; expected (heads, query, key) or "
                             "(batch, heads, query, key) per layer")
        for i, shape in enumerate(shapes):
            if shape != shapes[0]:
                raise ValueError(f"{name}[{i}]: shape {shape} differs from layer 0's {shapes[0]}; every "
                                 "layer must have the same heads and sequence length")
        layers = []
        for i, layer in enumerate(attention_layers):
            arr, layout = validate.as_layers(layer[None], name=f"{name}[{i}]", dtype=None, validate=False)
            layers.append(arr)  # (1, B, H, Q, K)
        return layers, layout == "LBHQK"
    try:
        arr, layout = validate.as_layers(attention_layers, dtype=None, validate=False)  # (L, B, H, Q, K)
    except ValueError as err:
        shape = np.shape(attention_layers) if isinstance(attention_layers, np.ndarray) else None
        if shape is not None and len(shape) == 3:  # (L, Q, K) fused, or one (H, Q, K) layer
            raise ValueError(f"{err}; or, if the heads are already fused (layers, query, key), use "
                             "AttentionRollout.rollout_fused()") from None
        raise
    return [arr[i:i + 1] for i in range(arr.shape[0])], layout == "LBHQK"


def pick_example(rollout, batch) -> np.ndarray:
    """The ``(Q, K)`` rollout to draw: ``rollout`` itself, or example ``batch`` of a ``(B, Q, K)`` batch.

    A batch of one needs no ``batch=``; a larger batch without it, or ``batch=`` without a batch axis, is
    refused naming ``batch``. ``rollout`` is checked (finite, rows of probabilities, square)."""
    arr = validate.check_attention(rollout, "QK|BQK", name="rollout", square=True)
    if arr.ndim == 3:
        if batch is None and arr.shape[0] == 1:
            batch = 0  # a batch of one (what compute_rollout(model(...).attentions) returns): no question
        if batch is None:
            raise ValueError(f"batch: rollout has a batch axis of size {arr.shape[0]} "
                             f"(shape {arr.shape}); pass batch=<index> to choose an example")
        arr = arr[validate.check_index(batch, arr.shape[0], name="batch")]  # (Q, K)
    elif batch is not None:
        raise ValueError(f"batch: got batch={batch!r}, but rollout {arr.shape} has no batch axis")
    return arr


# -------------------------------------------------------------------------------------------- captions
def diagonal_caption(diagonal, n_tokens: int) -> str:
    """The rollout_by_layer caption, from the numbers: does the diagonal fade, and below uniform?"""
    chain = " → ".join(f"{d:.2f}" for d in diagonal)
    uniform = 1.0 / n_tokens
    fades = bool(np.all(np.diff(diagonal) < 0))
    below = np.flatnonzero(np.asarray(diagonal) < uniform)
    trend = "falls at every layer" if fades else "does not fall at every layer"
    where = (f"and is below uniform (1/{n_tokens} = {uniform:.3f}) from depth {below[0] + 1} on"
             if below.size else f"and stays above uniform (1/{n_tokens} = {uniform:.3f})")
    lesson = ("The residual slows the mixing but does not keep the diagonal alive: rolled out, a token's "
              "share of itself fades." if fades and below.size else
              "Here the residual does keep a share of each token on itself.")
    return (f"Partial rollouts Â_l⋯Â_1 for l = 1…{len(diagonal)}. The mean share a position keeps of its "
            f"own token (the diagonal, [CLS] left out) {trend}: {chain}, {where}. {lesson}")


def fusion_caption(entropies, fusions, ratios, n_tokens: int) -> str:
    """The fusion_and_discard caption from the entropies: the flattest fusion; does discarding sharpen."""
    entropies = np.asarray(entropies)
    no_discard = entropies[:, 0]
    flattest, sharpest = fusions[int(np.argmax(no_discard))], fusions[int(np.argmin(no_discard))]
    table = "; ".join(f"{f} " + " / ".join(f"{e:.2f}" for e in row) for f, row in zip(fusions, entropies))
    sharpen = bool(np.all(np.diff(entropies, axis=1) < 0))
    folklore = ("so max fusion does not sharpen the map, it flattens it" if flattest == "max"
                else "as the folklore says" if sharpest == "max" else "")
    return (f"Mean row entropy in nats (lower = sharper; uniform = log {n_tokens} = {np.log(n_tokens):.2f}) "
            f"at discard {' / '.join(f'{r:g}' for r in ratios)}: {table}. Without discarding, {flattest} "
            f"fusion is the flattest and {sharpest} the sharpest{', ' + folklore if folklore else ''}. "
            f"Discarding {'lowers the entropy of every fusion' if sharpen else 'does not always sharpen'}; "
            "the rows still sum to 1.")


# --------------------------------------------------------------------------------------------- figures
def rollout_heatmap(rollout, tokens, title: str | None, scale: str, annotate: bool | None, save_path=None):
    """One ``(Q, K)`` rollout as a heatmap: rows are output positions, columns input tokens.

    Written to ``save_path`` (130 dpi) when one is given; returns the Figure."""
    fig = show_heatmaps(rollout, xlabels=tokens, ylabels=tokens, scale=scale,
                        titles=[title or "Attention rollout Â_L ⋯ Â_1"],
                        xlabel="input token (where the information came from)",
                        ylabel="position at the top layer",
                        annotate=len(tokens) <= 14 if annotate is None else annotate)
    if save_path is not None:
        save_png(fig, save_path, dpi=130)
    return fig


def save_rollout(out, fig, result, tokens, model_name: str):
    """The rollout figure ``fig`` with its caption, and its interactive twin of ``result`` ``(Q, K)``.

    The HTML page's hover gives the position, the input token and its share."""
    out.save_figure(fig, "rollout", "Attention rollout Â_L⋯Â_1 (0.5·A + 0.5·I, rows renormalised): row i "
                    "is the share of each input token in position i at the top layer.")
    out.save_heatmap_html("rollout.html", result, "Interactive rollout: hover a cell for the position, the "
                          "input token and its share.", xlabels=tokens, ylabels=tokens,
                          title=f"{model_name}: attention rollout (hover: position, input token, share)",
                          x_title="input token", y_title="position at the top layer",
                          colorbar_title="rollout")


def save_raw_vs_rollout(out, last_mean, result, tokens, shares: dict, last_layer: int):
    """The last layer's head mean beside the rollout; the caption states both first-token share ranges.

    ``last_mean`` and ``result`` are ``(Q, K)``; ``shares`` is what the lesson's ``first_token_shares``
    measures (``"raw"`` and ``"rollout"``, ``(Q,)`` each)."""
    fig = show_heatmaps(np.stack([last_mean, result])[None], xlabels=tokens, ylabels=tokens, tick_labels=True,
                        titles=[f"raw attention, layer {last_layer} (head mean)", "rollout of all layers"],
                        suptitle="What one layer shows vs what reaches the top")  # (1, 2, Q, K)
    low, high = shares["rollout"].min(), shares["rollout"].max()
    out.save_figure(fig, "raw_vs_rollout", f"Left: the last layer's attention alone; right: the rollout. "
                    f"Every one of the {len(tokens)} rollout rows gives {low:.0%}–{high:.0%} of its share to "
                    f"the first token ({tokens[0]}), against {shares['raw'].min():.0%}–"
                    f"{shares['raw'].max():.0%} in the raw last layer: rolled out, this model's attention "
                    f"traces back mostly to {tokens[0]}, where its layers park their weight, not to the "
                    "content words.")


def save_rollout_by_layer(out, partial, diagonal, tokens):
    """Every partial rollout ``(L, Q, K)`` in one row of panels, titled with its mean diagonal ``(L,)``."""
    fig = show_heatmaps(partial[None], titles=[f"Â_{depth + 1}⋯Â_1: diag {d:.2f}"
                                                for depth, d in enumerate(diagonal)],
                        colorbar_label="rollout share (0–1)",
                        suptitle=f"Rollout up to each layer: the diagonal fades ({diagonal[0]:.2f} → "
                                 f"{diagonal[-1]:.2f}; uniform {1 / len(tokens):.3f})"
                        if np.all(np.diff(diagonal) < 0) else "Rollout up to each layer")
    # partial[None]: (1, L, Q, K), one row of L panels
    out.save_figure(fig, "rollout_by_layer", diagonal_caption(diagonal, len(tokens)))


def save_cls_row(out, shares: dict, tokens, last_layer: int):
    """Row 0 of the last layer and of the rollout as bars; ``shares`` is the lesson's ``cls_row_shares``."""
    fig = token_bars({f"raw attention, layer {last_layer}": shares["raw"],
                      "rollout": shares["rollout"]}, tokens, ylabel=f"share of the {tokens[0]} position",
                     title=f"Where the first token ({tokens[0]}) gets its information")
    grows = shares["rollout_self"] > shares["raw_self"]
    out.save_figure(fig, "cls_row", f"Row 0 ({tokens[0]}) of the last layer's attention (head mean) and of "
                    f"the rollout. {tokens[0]} keeps {shares['raw_self']:.0%} of the last layer's attention "
                    f"on itself, and {shares['rollout_self']:.0%} rolled out: "
                    + ("the residual term and every layer's attention to it compound in the product."
                       if grows else "rolling out lowers its share of itself."))


def save_fusion_grid(out, grid, entropies, fusions, ratios, n_tokens: int):
    """The head fusion × discard ratio grid ``(F, R, Q, K)``, each panel titled with its entropy ``(F, R)``."""
    fig = show_heatmaps(grid, titles=[[f"{f}, {r:g}: H={e:.2f}" for r, e in zip(ratios, row)]
                                      for f, row in zip(fusions, entropies)],
                        colorbar_label="rollout share (0–1)",
                        suptitle="Head fusion (rows) × discard ratio (columns)\nH = mean row entropy, nats")
    out.save_figure(fig, "fusion_and_discard", fusion_caption(entropies, fusions, ratios, n_tokens))


def save_wrong_order(out, right, wrong, tokens, gap: float, sums_gap: float):
    """The product in the right and the wrong order ``(Q, K)`` each, side by side."""
    fig = show_heatmaps(np.stack([right, wrong])[None], xlabels=tokens, ylabels=tokens, tick_labels=True,
                        titles=["right: Â_L ⋯ Â_1", "wrong: Â_1 ⋯ Â_L"],
                        suptitle="Order matters")  # panels (1, 2, Q, K)
    out.save_figure(fig, "wrong_order", "Right and wrong order of the product: the first layer must be the "
                    f"rightmost factor. The two differ by up to {gap:.2f} in a cell, yet both have rows "
                    f"summing to 1 (within {sums_gap:.0e}), so only the order gives the mistake away.")


def save_padded_batch(out, padded_rollout, tokens, gap: float):
    """One padded example's rollout ``(Q, K)``, and how far it is from the same sentence run alone."""
    fig = show_heatmaps(padded_rollout, xlabels=tokens, ylabels=tokens, tick_labels=True,
                        titles=[f"padded example (max diff to unpadded run {gap:.1e})"],
                        suptitle="Rollout with attention_mask: padding rows and columns are zero")
    out.save_figure(fig, "padded_batch", "The shorter sentence of a padded batch: with attention_mask the "
                    "padding positions are dropped from every layer, and the result "
                    + (f"equals the unpadded run up to float32 rounding (largest difference {gap:.1e})."
                       if gap < 1e-6 else f"differs from the unpadded run by up to {gap:.1e}."))
