"""Lesson 2.1 — Many heads: every head of a layer, every layer of a model, and which heads repeat each other.

The idea
--------
Multi-head attention runs ``H`` attention functions side by side on smaller projections (Vaswani et al.
2017)::

    MultiHead(X) = Concat(head_1, …, head_H) W^O,     head_h = softmax(Q_h K_hᵀ / √d_k) V_h

so one layer has ``H`` matrices ``(H, Q, K)`` and a model ``(L, H, Q, K)``. Averaging them hides what the
heads do: in BERT some look at the previous token, some at ``[SEP]``, some at the same word elsewhere
(Clark et al. 2019, "What Does BERT Look At?"). MiniLM, the default here, differs: its first layer has a
previous-token head, and from the second layer on most heads park their weight on ``[CLS]``, not on
``[SEP]`` (the captions count them). So we look at all of them — one grid per layer, and a layers × heads
overview of the whole model with one shared colour scale.

Are all those heads needed? Voita et al. (2019, "Analyzing Multi-Head Self-Attention") and Michel et al.
(2019, "Are Sixteen Heads Really Better than One?") pruned most heads of trained models with little loss:
many heads are *redundant*. A cheap way to spot candidates is to compare heads' attention directly. Each
row of a head is a probability distribution, so compare rows with the **Jensen–Shannon divergence**
(base 2, so it lies in ``[0, 1]``)::

    M = (p + q) / 2
    JSD(p, q) = ½ KL(p ‖ M) + ½ KL(q ‖ M),      KL(p ‖ M) = Σ_k p_k log₂(p_k / M_k)   with 0·log 0 = 0

``√JSD`` is a true metric, the **Jensen–Shannon distance**. The distance between heads ``h`` and ``g`` is
its mean over the (real) query rows: ``D[h, g] = mean_q √JSD(A_h[q], A_g[q])`` — 0 for identical
attention, 1 for attention on disjoint keys. Unlike KL it is symmetric and finite when one head puts zero
weight where the other does not.

Two warnings it gives:

* **Redundant heads** — pairs with ``D < redundant_threshold`` (default 0.15; the lesson prints the median
  and the closest pair of the model it runs on) attend almost identically on this input: candidates for
  pruning.
* **Attention collapse** — (a) *across heads*: a layer whose heads are all alike (mean pairwise ``D`` below
  ``collapse_threshold``, default 0.1) has spent ``H`` heads on one pattern; (b) *across queries*: a head
  whose rows are all the same distribution (mean distance of each row to the head's average row below the
  threshold) sends every token to the same keys — a vertical stripe, and a sign of rank collapse (Dong et
  al. 2021, "Attention is Not All You Need"). Both happen in badly trained or over-deep models.

These are *descriptive* on one input: confirm redundancy by pruning (``03_advanced/attention_entropy.py``
measures head importance and the pruning curve).

Figures, the wording of their captions and the interactive overview live in ``attnviz/multihead_figures.py``.

Run it
------
    python 02_intermediate/multihead_visualization.py
    python 02_intermediate/multihead_visualization.py --layer 2 \
        --text "The keys to the cabinet are on the table"

Usage from Python::

    from beginner.attention_basics import AttentionModel
    from intermediate.multihead_visualization import MultiHeadVisualizer
    model = AttentionModel(); weights = model.get_attention_weights(text); tokens = model.tokens(text)
    MultiHeadVisualizer(num_heads=12).plot_all_heads(weights[5], tokens=tokens,
                                                     layer_name="Layer 6")  # weights[5]: (heads, q, k)
"""

from __future__ import annotations

import numpy as np

from attnviz import multihead_figures
from attnviz.cli import lesson_parser, resolve_layer, run_lesson
from attnviz.outputs import LessonOutputs, save_png
from attnviz.plotting import show_heatmaps
from attnviz.validate import check_attention, check_mask, check_tokens, to_numpy

DEFAULT_TEXT = "The cat sat on the mat because it was tired."
REDUNDANT_THRESHOLD = 0.15
COLLAPSE_THRESHOLD = 0.10
DEFAULT_LAYER = 0  # MiniLM's first layer has a previous-token head; its later layers mostly stripe on [CLS]


# ----------------------------------------------------------------------------------------- similarity
def jensen_shannon_distance(p, q, axis: int = -1) -> np.ndarray:
    """``√JSD(p, q)`` in base 2 (in ``[0, 1]``) between distributions along ``axis``; broadcasts.

    ``0·log 0 = 0``: keys where a distribution is 0 add nothing (``np.where`` instead of ``log(0)``).
    ``p`` and ``q`` must be distributions along ``axis`` (finite, non-negative, summing to 1): on an
    unnormalised row the formula gives NaN or a meaningless 1.0, so it is refused (§7).
    """
    p, q = _distributions(p, "p", axis), _distributions(q, "q", axis)
    try:
        p, q = np.broadcast_arrays(p, q)
    except ValueError:
        raise ValueError(f"p, q: shapes {p.shape} and {q.shape} do not broadcast together") from None
    m = 0.5 * (p + q)

    def kl_to_m(x):  # Σ x log₂(x / m), only where x > 0 (then m > 0 too)
        positive = x > 0
        ratio = np.divide(x, m, out=np.ones_like(x), where=positive)
        return np.sum(np.where(positive, x * np.log2(ratio), 0.0), axis=axis)

    jsd = 0.5 * kl_to_m(p) + 0.5 * kl_to_m(q)
    return np.sqrt(np.clip(jsd, 0.0, 1.0))  # clip rounding error (-1e-17) before the square root


def _distributions(x, name: str, axis: int) -> np.ndarray:
    """``x`` as float64, checked to hold probability distributions along ``axis``."""
    arr = to_numpy(x, name)
    if arr.ndim == 0:
        raise ValueError(f"{name}: got a single number {arr!r}; expected distributions along axis {axis}")
    if isinstance(axis, bool) or not isinstance(axis, int | np.integer) or not -arr.ndim <= axis < arr.ndim:
        raise ValueError(f"axis: got {axis!r}; {name} has {arr.ndim} dimension(s) (shape {arr.shape})")
    if arr.size == 0:
        raise ValueError(f"{name}: got an empty array of shape {arr.shape}; expected distributions")
    rows = np.moveaxis(arr, axis, -1)  # (..., K): the distributions last
    check_attention(rows.reshape(-1, rows.shape[-1]), "QK", name=name)  # (N, K): finite, >= 0, sum 1
    return arr


def head_distances(attention, attention_mask=None) -> np.ndarray:
    """Mean Jensen–Shannon distance between every pair of heads: ``(N, N)``, 0 on the diagonal.

    Args:
        attention: ``(N, Q, K)`` heads (of one layer), or ``(L, H, Q, K)`` — then all ``N = L·H`` heads of
            the model, in the order layer 0 heads 0…H-1, layer 1 …
        attention_mask: optional ``(K,)`` with 1 for real tokens: padding query rows are left out of the
            mean (padding keys carry no weight in a model's attention anyway).
    """
    arr = check_attention(attention, "HQK|LHQK", name="attention")
    heads = arr.reshape(-1, *arr.shape[-2:])  # (N, Q, K)
    rows = _real_rows(attention_mask, heads.shape[1], heads.shape[2])  # (Q,) bool
    heads = heads[:, rows]  # (N, Q_real, K)
    n = heads.shape[0]
    distances = np.zeros((n, n))
    for h in range(n):  # one head against all others at once: (N, Q_real) row distances
        distances[h] = jensen_shannon_distance(heads[h][None], heads).mean(-1)  # (1, Q, K) vs (N, Q, K)
    np.fill_diagonal(distances, 0.0)
    return (distances + distances.T) / 2  # exactly symmetric


def row_collapse(attention, attention_mask=None) -> np.ndarray:
    """Per head, the mean distance of each (real) row to the head's average row.

    ``(..., Q, K)`` -> ``(...)``.

    Near 0: every query attends to the same keys (a vertical stripe) — collapse across queries.
    """
    arr = check_attention(attention, "QK|HQK|LHQK", name="attention")
    rows = _real_rows(attention_mask, arr.shape[-2], arr.shape[-1])
    arr = arr[..., rows, :]  # (..., Q_real, K)
    mean_row = arr.mean(-2, keepdims=True)  # (..., 1, K)
    return jensen_shannon_distance(arr, mean_row).mean(-1)  # (...)


def redundant_heads(distances, threshold: float = REDUNDANT_THRESHOLD,
                    num_heads: int | None = None) -> list[tuple]:
    """Pairs of heads closer than ``threshold``: ``[(i, j, distance), …]`` with ``i < j``, closest first.

    With ``num_heads`` the indices are returned as ``(layer, head)`` pairs of a flattened ``(L, H)`` model.
    """
    dist = _check_distances(distances)
    i, j = np.triu_indices(dist.shape[0], k=1)
    close = dist[i, j] < threshold
    pairs = sorted(zip(i[close].tolist(), j[close].tolist(), dist[i, j][close].tolist()), key=lambda t: t[2])
    if num_heads:
        return [(divmod(a, num_heads), divmod(b, num_heads), d) for a, b, d in pairs]
    return pairs


def _check_distances(distances) -> np.ndarray:
    """A ``(heads, heads)`` matrix of Jensen–Shannon distances: square, finite, in ``[0, 1]``."""
    dist = to_numpy(distances, "distances")
    if dist.ndim != 2 or dist.shape[0] != dist.shape[1] or dist.size == 0:
        raise ValueError(f"distances: expected a square (heads, heads) matrix, got shape {dist.shape}")
    if not np.isfinite(dist).all() or dist.min() < 0 or dist.max() > 1 + 1e-9:
        raise ValueError(f"distances: expected finite Jensen–Shannon distances in [0, 1], got values from "
                         f"{np.nanmin(dist) if not np.isnan(dist).all() else np.nan:.3g} to "
                         f"{np.nanmax(dist) if not np.isnan(dist).all() else np.nan:.3g}"
                         f"{' and NaN/Inf' if not np.isfinite(dist).all() else ''} (see head_distances)")
    return dist


def layer_collapse(attention, threshold: float = COLLAPSE_THRESHOLD, attention_mask=None) -> dict:
    """Collapse diagnostics for ``(L, H, Q, K)``.

    Returns a dict with ``mean_distance`` ``(L,)`` (mean pairwise head distance per layer),
    ``collapsed_layers`` (layers below ``threshold``), ``row_collapse`` ``(L, H)`` and ``collapsed_heads``
    (``(layer, head)`` whose rows are all alike).
    """
    arr = check_attention(attention, "LHQK", name="attention")
    n_heads = arr.shape[1]
    off_diagonal = ~np.eye(n_heads, dtype=bool)
    mean_distance = np.array([head_distances(layer, attention_mask)[off_diagonal].mean()
                              if n_heads > 1 else 0.0
                              for layer in arr])  # (L,)
    rows = row_collapse(arr, attention_mask)  # (L, H)
    return {
        "mean_distance": mean_distance,
        "collapsed_layers": [int(i) for i in np.flatnonzero(mean_distance < threshold)],
        "row_collapse": rows,
        "collapsed_heads": [tuple(int(v) for v in ij) for ij in np.argwhere(rows < threshold)],
    }


def _real_rows(attention_mask, n_queries: int, n_keys: int) -> np.ndarray:
    """The query rows to average over: the real tokens of self-attention ``(Q,)``, or all rows."""
    if attention_mask is not None and n_queries != n_keys:
        raise ValueError(f"attention_mask: only for self-attention, but the attention has {n_queries} "
                         f"queries × {n_keys} keys")
    mask = check_mask(attention_mask, n_keys)  # (K,) boolean, or None
    return np.ones(n_queries, dtype=bool) if mask is None else mask


def grid_shape(n: int) -> tuple[int, int]:
    """Rows × columns for ``n`` panels: the most square grid that holds them exactly (12 -> 3 × 4)."""
    if isinstance(n, bool) or not isinstance(n, int | np.integer):
        raise TypeError(f"n: expected a whole number of panels, got {type(n).__name__} {n!r}")
    if n < 1:
        raise ValueError(f"n: got {n} panels; expected at least 1")
    rows = max(r for r in range(1, int(np.sqrt(n)) + 1) if n % r == 0)
    return rows, n // rows


# ------------------------------------------------------------------------------------------- drawing
class MultiHeadVisualizer:
    """Heatmaps of many heads at once, all on one colour scale (``"fixed"`` 0–1 by default)."""

    def __init__(self, num_heads: int = 12, cmap: str = "viridis", scale: str = "fixed"):
        if isinstance(num_heads, bool) or not isinstance(num_heads, int | np.integer) or num_heads < 1:
            raise ValueError(f"num_heads: expected a positive integer, got {num_heads!r}")
        self.num_heads, self.cmap, self.scale = int(num_heads), cmap, scale

    def plot_all_heads(self, attention_weights, tokens, layer_name: str = "Layer", save_path=None,
                       key_tokens=None):
        """One panel per head of a layer ``(heads, query, key)`` in a near-square grid; returns the Figure."""
        arr = check_attention(attention_weights, "HQK", name="attention_weights")
        if arr.shape[0] != self.num_heads:
            raise ValueError(f"attention_weights: has {arr.shape[0]} heads (shape {arr.shape}) but the "
                             f"visualizer was made with num_heads={self.num_heads}")
        tokens = check_tokens(tokens, arr.shape[1], name="tokens", axis="query (rows)")
        key_tokens = tokens if key_tokens is None else check_tokens(key_tokens, arr.shape[2],
                                                                   name="key_tokens", axis="key (columns)")
        rows, cols = grid_shape(self.num_heads)
        grid = arr.reshape(rows, cols, *arr.shape[1:])  # (rows, cols, Q, K)
        fig = show_heatmaps(grid, xlabels=key_tokens, ylabels=tokens, scale=self.scale, cmap=self.cmap,
                            titles=[f"head {h}" for h in range(self.num_heads)],
                            tick_labels=max(arr.shape[1:]) <= 24,
                            panel_size=multihead_figures.panel_size(arr.shape[1]),
                            suptitle=f"{layer_name}: all {self.num_heads} heads")
        if save_path is not None:
            save_png(fig, save_path, dpi=130)
        return fig

    def plot_model_overview(self, attention, tokens=None, model_name: str = "model", save_path=None):
        """The layers × heads grid of a whole model ``(L, H, Q, K)`` with one colour bar."""
        arr = check_attention(attention, "LHQK", name="attention")
        if arr.shape[1] != self.num_heads:
            raise ValueError(f"attention: has {arr.shape[1]} heads per layer but num_heads={self.num_heads}")
        if tokens is not None:
            tokens = check_tokens(tokens, arr.shape[2], name="tokens", axis="query (rows)")
        n_layers = arr.shape[0]
        titles = [[f"L{layer} H{head}" for head in range(self.num_heads)] for layer in range(n_layers)]
        fig = show_heatmaps(arr, titles=titles, scale=self.scale, cmap=self.cmap, panel_size=1.15,
                            suptitle=f"{model_name}: {n_layers} layers (rows) × {self.num_heads} heads "
                                     "(columns)")
        if save_path is not None:
            save_png(fig, save_path, dpi=110)
        return fig

    def plot_head_similarity(self, distances, labels=None, title: str = "Head similarity", layer_size=None):
        """The ``(N, N)`` Jensen–Shannon distance matrix; lines every ``layer_size`` heads."""
        dist = _check_distances(distances)
        if labels is not None:
            labels = check_tokens(labels, dist.shape[0], name="labels", axis="head")
        fig = show_heatmaps(dist, xlabels=labels, ylabels=labels, vmin=0.0, vmax=1.0, cmap="magma",
                            colorbar_label="mean Jensen–Shannon distance (base 2): 0 = identical",
                            xlabel="head", ylabel="head", titles=[title], tick_labels=labels is not None,
                            panel_size=min(9.0, 2.5 + 0.11 * dist.shape[0]))
        multihead_figures.draw_layer_lines(fig, layer_size, dist.shape[0])
        return fig


def collapsed_layer_demo(layer, seed: int = 0, noise: float = 0.05) -> np.ndarray:
    """A synthetic collapsed layer ``(H, Q, K)``: each head a noisy copy of head 0 of ``layer``."""
    arr = check_attention(layer, "HQK", name="layer")
    rng = np.random.default_rng(seed)
    copies = arr[:1] * np.exp(noise * rng.normal(size=arr.shape))  # (H, Q, K), multiplicative noise
    return copies / copies.sum(-1, keepdims=True)


# ------------------------------------------------------------------------------------------------ lesson
# The patterns the captions name are measured, never assumed: each caption is filled from these numbers,
# and tests/test_multihead_visualization.py asserts them on the lesson's default input.
ROLE_THRESHOLD = multihead_figures.ROLE_THRESHOLD  # a head "does" a pattern at >= this share of each row


def head_roles(layer_weights) -> dict[str, np.ndarray]:
    """Per head of one layer ``(H, Q, K)``: the mean share of a row on five simple targets, ``(H,)`` each.

    ``previous`` ``A[i, i−1]`` (queries ``i ≥ 1``), ``next`` ``A[i, i+1]``, ``self`` ``A[i, i]``, ``first``
    ``A[i, 0]`` (``[CLS]`` / BOS) and ``last`` ``A[i, n−1]`` (``[SEP]``), each averaged over its queries.
    Uniform attention scores ``1/n`` on every one.
    """
    arr = check_attention(layer_weights, "HQK", name="layer_weights", square=True)
    if arr.shape[-1] < 2:
        raise ValueError(f"layer_weights: got {arr.shape[-1]} token(s); the roles need at least 2")
    return {
        "previous": np.diagonal(arr, offset=-1, axis1=-2, axis2=-1).mean(-1),  # (H,)
        "next": np.diagonal(arr, offset=1, axis1=-2, axis2=-1).mean(-1),
        "self": np.diagonal(arr, axis1=-2, axis2=-1).mean(-1),
        "first": arr[..., 0].mean(-1),
        "last": arr[..., -1].mean(-1),
    }


def stripe_heads_per_layer(weights, threshold: float = ROLE_THRESHOLD) -> np.ndarray:
    """Per layer of ``(L, H, Q, K)``: how many heads put ≥ ``threshold`` of each row on position 0."""
    arr = check_attention(weights, "LHQK", name="weights", square=True)
    return (arr[..., 0].mean(-1) >= threshold).sum(-1)  # (L,)


def _heads_demo(out, viz: MultiHeadVisualizer, model_name: str, weights, tokens, layer: int):
    """All heads of one layer, then the whole model, and its interactive twin."""
    n_layers, n_heads = weights.shape[:2]
    fig = viz.plot_all_heads(weights[layer], tokens=tokens,
                             layer_name=f"{model_name}, layer {layer} (layers count from 0)")
    roles = head_roles(weights[layer])  # role -> (H,) mean share of each head's rows
    out.save_figure(fig, "all_heads", multihead_figures.all_heads_caption(roles, layer, tokens))
    fig = viz.plot_model_overview(weights, tokens, model_name=model_name)
    stripes = stripe_heads_per_layer(weights)
    out.save_figure(fig, "model_overview",
                    multihead_figures.overview_caption(stripes, model_name, n_layers, n_heads, tokens))
    if len(tokens) <= 64:  # one hover label per cell keeps the page small (bertviz_style.py scales further)
        title = f"{model_name}: every layer and head (hover: layer, head, query, key, weight)"
        multihead_figures.overview_html(weights, tokens, out.path("model_overview.html"), title=title)
        out.register("model_overview.html", "Interactive overview: hover any cell for layer, head, query "
                     "token, key token and weight.")


def _similarity_demo(out, viz: MultiHeadVisualizer, model_name: str, weights, threshold: float):
    """Which heads repeat each other: the Jensen–Shannon distance between all heads of the model."""
    n_layers, n_heads = weights.shape[:2]
    distances = head_distances(weights)  # (L·H, L·H)
    labels = [f"L{i}H{h}" for i in range(n_layers) for h in range(n_heads)]
    pairs = redundant_heads(distances, threshold, num_heads=n_heads)
    off = distances[~np.eye(len(labels), dtype=bool)]
    print(f"head distances: median {np.median(off):.3f}, closest pair {off.min():.3f}; "
          f"{len(pairs)} pair(s) below {threshold}:")
    for (l1, h1), (l2, h2), d in pairs[:10]:
        print(f"  L{l1}H{h1} ~ L{l2}H{h2}: {d:.3f}")
    fig = viz.plot_head_similarity(distances, labels, layer_size=n_heads,
                                   title=f"{model_name}: Jensen–Shannon distance between all heads")
    out.save_figure(fig, "head_similarity", "Mean Jensen–Shannon distance between every pair of heads "
                    f"(dark = alike; white lines separate layers). {len(pairs)} pair(s) below {threshold} "
                    "are flagged as redundant on this input.")


def _collapse_demo(out, model_name: str, weights, tokens, layer: int):
    """Collapse across heads (a real layer vs a synthetic collapsed copy) and across queries (per head)."""
    report = layer_collapse(weights)
    fake = weights.copy()
    fake[layer] = collapsed_layer_demo(weights[layer])  # a layer whose heads all copy one head
    fake_report = layer_collapse(fake)
    print(f"mean head distance per layer: {np.round(report['mean_distance'], 3).tolist()}; collapsed layers "
          f"{report['collapsed_layers']} (synthetic copy: {fake_report['collapsed_layers']})")
    pair = np.stack([head_distances(weights[layer]), head_distances(fake[layer])])  # (2, H, H)
    real_flagged, fake_flagged = layer in report["collapsed_layers"], layer in fake_report["collapsed_layers"]
    multihead_figures.save_collapse_pair(out, pair, report["mean_distance"][layer],
                                         fake_report["mean_distance"][layer], real_flagged, fake_flagged,
                                         layer, COLLAPSE_THRESHOLD)
    low_layer, low_head = np.unravel_index(np.argmin(report["row_collapse"]), report["row_collapse"].shape)
    read_most = int(np.argmax(weights[low_layer, low_head].mean(0)))  # the key its mean row weights most
    stripe_share = weights[low_layer, low_head, :, read_most].mean()  # its rows' mean weight on that key
    multihead_figures.save_row_collapse(out, report["row_collapse"], model_name, (low_layer, low_head),
                                        stripe_share, read_most, tokens)


def main(argv=None):
    parser = lesson_parser(__doc__, text=DEFAULT_TEXT, layer=DEFAULT_LAYER)
    parser.add_argument("--redundant-threshold", type=float, default=REDUNDANT_THRESHOLD,
                        help=f"head pairs closer than this are flagged (default {REDUNDANT_THRESHOLD})")
    args = parser.parse_args(argv)
    out = LessonOutputs(__file__, args.out)

    from beginner.attention_basics import AttentionModel

    model = AttentionModel(args.model, device=args.device)
    weights = model.get_attention_weights(args.text)  # (L, H, Q, K)
    tokens = model.tokens(args.text)
    layer = resolve_layer(args.layer, weights.shape[0])
    viz = MultiHeadVisualizer(num_heads=weights.shape[1])
    _heads_demo(out, viz, model.name, weights, tokens, layer)
    _similarity_demo(out, viz, model.name, weights, args.redundant_threshold)
    _collapse_demo(out, model.name, weights, tokens, layer)


if __name__ == "__main__":
    raise SystemExit(run_lesson(main))
