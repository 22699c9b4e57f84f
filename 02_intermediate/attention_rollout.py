"""Lesson 2.2 — Attention rollout: following information through every layer at once.

The idea
--------
One layer's attention matrix says how position *i* mixes the positions of the layer *below*. But the
positions below are not tokens any more after the first layer: each is already a mixture. To ask "how
much of input token *j* reaches output position *i*", chain the layers. Abnar & Zuidema (2020,
"Quantifying Attention Flow in Transformers", ACL) model each layer as a linear mixing of its inputs and
multiply the mixing matrices — **attention rollout**. Per layer ``l`` (the canonical layout
``(L, H, Q, K)``, queries are rows)::

    Ā_l = fuse_h(A_l,h)                     # head fusion: mean (the paper), or max / min      (Q, K)
    Ā_l = discard(Ā_l, ratio)               # optional: zero the lowest `ratio` of off-diagonal entries
    Â_l = 0.5 · Ā_l + 0.5 · I               # the residual connection: each token also keeps itself
    Â_l = Â_l / Σ_k Â_l[:, k]               # renormalise every row to sum to 1
    R   = Â_L · Â_{L-1} ⋯ Â_1               # rollout: (Q, K), row i = where position i's information came from

Why each step:

* **Fuse heads first, per layer.** The heads of a layer write into the same residual stream, so the layer
  mixes with (roughly) their average. Fuse *before* the residual and the product: rolling out each head on
  its own and averaging the rollouts afterwards gives a different, meaningless answer.
  ``"max"`` (a popular variant from Jacob Gildenblat's *Exploring Explainability for Vision Transformers*,
  2020) keeps each pair's strongest head and tends to give sharper maps; ``"min"`` is the pessimistic one.
* **Discard** (also from that blog post) removes the faint background weights that, multiplied twelve
  times, smear every map towards uniform. We zero the ``discard_ratio`` fraction of *off-diagonal* entries
  with the smallest weights (ties at the threshold go together) and never touch the diagonal.
* **Residual.** A transformer layer computes ``x + Attention(x)``: half of what flows up is the token
  itself. Without the identity, rollout forgets that and drifts towards a single column.
* **Renormalise rows.** ``max``, ``min`` and discarding break "rows sum to 1"; a product of row-stochastic
  matrices is row-stochastic, so every row of ``R`` is a distribution over input tokens again. Watch the
  axis: ``A / A.sum(-1)`` without ``keepdims`` divides *columns* by row sums (a bug in many copies).
* **Order.** The first layer acts first, so it is the rightmost factor: ``R_l = Â_l · R_{l-1}``.
  ``Â_1 ⋯ Â_L`` (wrong order) answers a different question and is a common mistake.

Padding: pass the tokenizer's ``attention_mask`` (``(B, T)`` or ``(T,)``, 1 = real token). Padding keys
and padding queries are dropped from every layer: each head's rows are renormalised over the real keys
before anything else, and the padding rows and columns of the result are zero. So the rollout of a padded example is
exactly the rollout of the same example alone, cut to its real tokens.

What rollout is not: it ignores the value vectors, the feed-forward blocks and the norms (Kobayashi et
al. 2020, "Attention is Not Only a Weight"), and "high attention ≠ high importance" (Jain & Wallace 2019;
Wiegreffe & Pinter 2019). Treat it as a better summary of attention than any single layer, and check it
with gradient methods (``03_advanced``). Rollout is also the starting point for attention *flow*
(``03_advanced/attention_flow.py``), which replaces the product with a maximum-flow problem.

Vectorised: heads are fused in one NumPy reduction over ``(L, B, H, Q, K)``, the discard threshold is one
``np.partition`` per layer, and the product is ``L - 1`` batched matrix products — 12 layers × 12 heads ×
512 tokens take a fraction of a second (``bench/bench_rollout.py`` compares it with a plain loop).

Run it
------
    python 02_intermediate/attention_rollout.py
    python 02_intermediate/attention_rollout.py --text "The trophy did not fit in the suitcase" --head-fusion max

Usage from Python::

    from beginner.attention_basics import AttentionModel
    from intermediate.attention_rollout import AttentionRollout
    weights = AttentionModel().get_attention_weights(text)            # (L, H, Q, K)
    rollout = AttentionRollout()
    r = rollout.compute_rollout(list(weights), discard_ratio=0.1)      # (Q, K)
    fig = rollout.visualize(r, tokens)
"""

from __future__ import annotations

import numpy as np

from attnviz.cli import lesson_parser, run_lesson
from attnviz.normalize import HEAD_FUSIONS, fuse_heads, row_normalize
from attnviz.outputs import LessonOutputs
from attnviz.plotting import heatmap_html, show_heatmaps
from attnviz.validate import check_attention, check_index, check_tokens, to_numpy

DEFAULT_TEXT = "The cat sat on the mat because it was tired."


class AttentionRollout:
    """Attention rollout (Abnar & Zuidema 2020) over all layers of a transformer.

    The constructor's arguments are defaults; each call of :meth:`compute_rollout` may override them.

    Args:
        head_fusion: how the heads of one layer become one matrix: ``"mean"`` (default), ``"max"``, ``"min"``.
        discard_ratio: fraction (0 ≤ r < 1) of each fused matrix's off-diagonal entries to zero, lowest first.
        add_residual: use ``0.5·A + 0.5·I`` for the residual connection (default True).
    """

    def __init__(self, head_fusion: str = "mean", discard_ratio: float = 0.0, add_residual: bool = True):
        self.head_fusion = _check_fusion(head_fusion)
        self.discard_ratio = _check_ratio(discard_ratio)
        self.add_residual = bool(add_residual)

    # ------------------------------------------------------------------------------------------ compute
    def compute_rollout(self, attention_layers, discard_ratio: float | None = None, head_fusion: str | None = None,
                        add_residual: bool | None = None, attention_mask=None) -> np.ndarray:
        """The rollout ``Â_L ⋯ Â_1`` of one example or a batch.

        Args:
            attention_layers: one of
                - a list (or tuple) with one ``(H, Q, K)`` array per layer, or a ``(L, H, Q, K)`` array -> ``(Q, K)``;
                - a list with one ``(B, H, Q, K)`` array per layer (what ``transformers`` returns in
                  ``outputs.attentions``), or a ``(L, B, H, Q, K)`` array -> ``(B, Q, K)``.
                  NumPy arrays and torch tensors both work. Every row must be a softmax distribution.
            discard_ratio, head_fusion, add_residual: override the constructor's defaults.
            attention_mask: optional ``(K,)`` or ``(B, K)`` with 1 for real tokens and 0 for padding; see the
                module docstring (padding is dropped, rows renormalised over the real tokens).

        Returns:
            ``(Q, K)`` — or ``(B, Q, K)`` for a batch — whose row ``i`` is a distribution over the input
            tokens (rows of padding positions are zero).
        """
        cumulative = self.rollout_by_layer(attention_layers, discard_ratio=discard_ratio, head_fusion=head_fusion,
                                           add_residual=add_residual, attention_mask=attention_mask)
        return cumulative[-1]

    def rollout_by_layer(self, attention_layers, discard_ratio: float | None = None, head_fusion: str | None = None,
                         add_residual: bool | None = None, attention_mask=None) -> np.ndarray:
        """Every partial rollout: entry ``l`` is ``Â_l ⋯ Â_1`` (the rollout up to and including layer ``l``).

        Same arguments as :meth:`compute_rollout`; returns ``(L, Q, K)`` or ``(L, B, Q, K)``.
        """
        head_fusion = self.head_fusion if head_fusion is None else _check_fusion(head_fusion)
        attention, batched = _as_layers_batch_heads(attention_layers)  # (L, B, H, Q, K)
        mask = _check_mask(attention_mask, attention.shape[1], attention.shape[-1], batched)  # (B, K) or None
        if mask is not None:  # each head's rows over the real keys only (a model gives padding ~0 anyway)
            attention = row_normalize(attention * mask[:, None, None, :])  # (L, B, H, Q, K)
        fused = fuse_heads(attention, head_fusion, axis=2)  # (L, B, Q, K)
        cumulative = self._rollout(fused, discard_ratio, add_residual, mask)  # (L, B, Q, K)
        return cumulative if batched else cumulative[:, 0]  # (L, B, Q, K) or (L, Q, K)

    def rollout_fused(self, fused_layers, discard_ratio: float | None = None, add_residual: bool | None = None,
                      attention_mask=None, cumulative: bool = False) -> np.ndarray:
        """Rollout of matrices whose heads are already combined: ``(L, Q, K)`` or ``(L, B, Q, K)``.

        For per-layer maps that are not softmax rows — gradient-weighted attention ``E_h[(∇A ⊙ A)⁺]``
        (Chefer et al. 2021) for instance. They must be finite and non-negative; rows need not sum to 1
        (each is renormalised after the residual). Returns ``(Q, K)`` / ``(B, Q, K)``, or every partial
        product ``(L, …)`` with ``cumulative=True``.
        """
        arr = check_attention(fused_layers, "LQK|LBQK", name="fused_layers", stochastic=False, square=True)
        batched = arr.ndim == 4
        fused = arr if batched else arr[:, None]  # (L, B, Q, K)
        mask = _check_mask(attention_mask, fused.shape[1], fused.shape[-1], batched)
        out = self._rollout(fused, discard_ratio, add_residual, mask)  # (L, B, Q, K)
        out = out if batched else out[:, 0]
        return out if cumulative else out[-1]

    def _rollout(self, fused: np.ndarray, discard_ratio, add_residual, mask) -> np.ndarray:
        """Steps 2–5 of the module docstring on fused ``(L, B, Q, K)``; returns all partial products."""
        ratio = self.discard_ratio if discard_ratio is None else _check_ratio(discard_ratio)
        residual = self.add_residual if add_residual is None else bool(add_residual)
        n_layers, n_batch, n, _ = fused.shape
        fused = fused.copy()
        if mask is not None:
            keep = mask[:, :, None] & mask[:, None, :]  # (B, Q, K): real query and real key
            fused *= keep  # drop padding rows and columns in every layer
        if ratio > 0:
            fused = discard_lowest(fused, ratio, mask)
        if residual:
            fused = 0.5 * fused + 0.5 * np.eye(n)  # (L, B, Q, K) + (Q, K) broadcasts
        fused = row_normalize(fused)  # every row a distribution again
        products = np.empty_like(fused)  # (L, B, Q, K)
        products[0] = fused[0]
        for layer in range(1, n_layers):
            products[layer] = fused[layer] @ products[layer - 1]  # R_l = Â_l · R_{l-1}: (B, Q, K)
        if mask is not None:
            products *= mask[:, :, None] & mask[:, None, :]  # padding rows/columns of the result are zero
        return products

    # ------------------------------------------------------------------------------------------ drawing
    def visualize(self, rollout, tokens, *, title: str | None = None, batch: int | None = None,
                  scale: str = "fixed", save_path=None, annotate: bool | None = None):
        """Heatmap of a rollout: rows are output positions, columns input tokens; returns the Figure.

        ``rollout`` is ``(Q, K)``, or ``(B, Q, K)`` with ``batch=`` choosing the example. ``scale="fixed"``
        colours probability on 0–1; ``scale="row"`` shows each row relative to its maximum.
        """
        arr = check_attention(rollout, "QK|BQK", name="rollout", square=True)
        if arr.ndim == 3:
            if batch is None:
                raise ValueError(f"batch: rollout has a batch axis of size {arr.shape[0]} (shape {arr.shape}); "
                                 "pass batch=<index> to choose an example")
            arr = arr[check_index(batch, arr.shape[0], name="batch")]  # (Q, K)
        tokens = check_tokens(tokens, arr.shape[0], name="tokens", axis="query/key")
        fig = show_heatmaps(arr, xlabels=tokens, ylabels=tokens, scale=scale,
                            titles=[title or "Attention rollout Â_L ⋯ Â_1"],
                            xlabel="input token (where the information came from)",
                            ylabel="position at the top layer",
                            annotate=len(tokens) <= 14 if annotate is None else annotate)
        if save_path is not None:
            fig.savefig(save_path, dpi=130, bbox_inches="tight")
        return fig


# ---------------------------------------------------------------------------------------------- helpers
def discard_lowest(fused: np.ndarray, ratio: float, mask=None) -> np.ndarray:
    """Zero the lowest ``ratio`` fraction of the off-diagonal entries of every ``(Q, K)`` matrix.

    ``fused`` is ``(..., B, Q, K)``; ``mask`` an optional ``(B, K)`` boolean of real tokens — then only
    real × real off-diagonal entries count and may be dropped. For ``n`` real tokens, ``floor(ratio · n(n-1))``
    entries are dropped (all entries equal to the threshold value go together). The diagonal is kept.
    """
    fused = np.array(fused, dtype=np.float64)
    *lead, n_batch, n, _ = fused.shape
    off_diagonal = ~np.eye(n, dtype=bool)  # (Q, K)
    if mask is None:
        mask = np.ones((n_batch, n), dtype=bool)
    candidates = off_diagonal & mask[:, :, None] & mask[:, None, :]  # (B, Q, K)
    counts = candidates.reshape(n_batch, -1).sum(-1)  # (B,) candidate entries per example
    drop = np.floor(ratio * counts).astype(int)  # (B,)
    flat = np.where(candidates, fused, np.inf).reshape(*lead, n_batch, n * n)  # non-candidates never drop
    for k in np.unique(drop[drop > 0]):  # examples with the same count share one partition
        rows = np.flatnonzero(drop == k)
        threshold = np.partition(flat[..., rows, :], k - 1, axis=-1)[..., k - 1]  # (..., b) k-th smallest
        chosen = fused[..., rows, :, :]  # (..., b, Q, K)
        chosen[candidates[rows] & (chosen <= threshold[..., None, None])] = 0.0
        fused[..., rows, :, :] = chosen
    return fused


def _check_fusion(head_fusion) -> str:
    if head_fusion not in HEAD_FUSIONS:
        raise ValueError(f"head_fusion: got {head_fusion!r}; expected one of {', '.join(HEAD_FUSIONS)}")
    return head_fusion


def _check_ratio(ratio) -> float:
    if isinstance(ratio, bool) or not isinstance(ratio, int | float | np.floating | np.integer):
        raise TypeError(f"discard_ratio: expected a number in [0, 1), got {type(ratio).__name__}")
    if not 0.0 <= float(ratio) < 1.0:
        raise ValueError(f"discard_ratio: got {ratio}; expected a fraction in [0, 1) (0.1 drops the lowest 10%)")
    return float(ratio)


def _as_layers_batch_heads(attention_layers) -> tuple[np.ndarray, bool]:
    """Any accepted input -> validated ``(L, B, H, Q, K)`` float64 and whether a batch axis was given."""
    if isinstance(attention_layers, list | tuple):
        if len(attention_layers) == 0:
            raise ValueError("attention_layers: got an empty list; expected one (heads, query, key) array per layer")
        layers = [to_numpy(a, f"attention_layers[{i}]") for i, a in enumerate(attention_layers)]
        for i, a in enumerate(layers):
            if a.shape != layers[0].shape:
                raise ValueError(f"attention_layers[{i}]: shape {a.shape} differs from layer 0's {layers[0].shape}; "
                                 "every layer must have the same heads and sequence length")
        if layers[0].ndim not in (3, 4):
            raise ValueError(f"attention_layers: each layer has shape {layers[0].shape}; expected 3 dimensions "
                             "(heads, query, key) or 4 (batch, heads, query, key)")
        arr = np.stack(layers)  # (L, H, Q, K) or (L, B, H, Q, K)
    else:
        arr = to_numpy(attention_layers, "attention_layers")
        if arr.ndim not in (4, 5):
            hint = " (one layer? wrap it in a list: [weights])" if arr.ndim == 3 else ""
            raise ValueError(f"attention_layers: got {arr.ndim} dimensions, shape {arr.shape}; expected 4 "
                             f"(layers, heads, query, key) or 5 (layers, batch, heads, query, key){hint}")
    batched = arr.ndim == 5
    arr = arr if batched else arr[:, None]  # (L, B, H, Q, K)
    return check_attention(arr, "LBHQK", name="attention_layers", square=True), batched


def _check_mask(attention_mask, n_batch: int, n_keys: int, batched: bool):
    """A tokenizer-style mask -> boolean ``(B, K)``, or None."""
    if attention_mask is None:
        return None
    mask = to_numpy(attention_mask, "attention_mask")
    if mask.ndim == 1:
        mask = np.broadcast_to(mask, (n_batch, mask.shape[0]))  # (B, K): one mask for every example
    if mask.ndim != 2 or mask.shape != (n_batch, n_keys):
        want = f"({n_batch}, {n_keys}) or ({n_keys},)" if batched else f"({n_keys},)"
        raise ValueError(f"attention_mask: got shape {tuple(to_numpy(attention_mask).shape)}; expected {want} "
                         "with 1 for real tokens and 0 for padding")
    if not np.isin(mask, (0, 1)).all():
        raise ValueError("attention_mask: expected only 0 (padding) and 1 (real token) values")
    mask = mask.astype(bool)
    if not mask.any(-1).all():
        raise ValueError(f"attention_mask: example {int(np.argmin(mask.any(-1)))} has no real token (all zeros)")
    return mask


# ------------------------------------------------------------------------------------------------ lesson
def main(argv=None):
    parser = lesson_parser(__doc__, text=DEFAULT_TEXT)
    parser.add_argument("--head-fusion", default="mean", choices=HEAD_FUSIONS, help="how heads are fused (default: mean)")
    parser.add_argument("--discard-ratio", type=float, default=0.0, help="fraction of weakest weights dropped (default: 0)")
    args = parser.parse_args(argv)
    out = LessonOutputs(__file__, args.out)

    from beginner.attention_basics import AttentionModel

    model = AttentionModel(args.model, device=args.device)
    weights = model.get_attention_weights(args.text)  # (L, H, Q, K)
    tokens = model.tokens(args.text)
    n_layers, n_heads = weights.shape[:2]
    rollout = AttentionRollout(head_fusion=args.head_fusion, discard_ratio=args.discard_ratio)
    partial = rollout.rollout_by_layer(list(weights))  # (L, Q, K)
    result = partial[-1]  # (Q, K)
    print(f"{model.name}: {n_layers} layers × {n_heads} heads, {len(tokens)} tokens; rollout {result.shape}")

    # 1. The rollout itself, with its interactive twin.
    fig = rollout.visualize(result, tokens, title=f"{model.name}: rollout over {n_layers} layers "
                            f"({args.head_fusion} of heads, discard {args.discard_ratio:g})")
    out.save_figure(fig, "rollout", "Attention rollout Â_L⋯Â_1 (head mean, 0.5·A + 0.5·I, rows renormalised): "
                    "row i is the share of each input token in position i at the top layer.")
    heatmap_html(result, xlabels=tokens, ylabels=tokens, path=out.path("rollout.html"),
                 title=f"{model.name}: attention rollout (hover: position, input token, share)",
                 x_title="input token", y_title="position at the top layer", colorbar_title="rollout")
    out.register("rollout.html", "Interactive rollout: hover a cell for the position, the input token and its share.")

    # 2. One layer is not the whole story: last layer's raw attention vs the rollout.
    last_mean = weights[-1].mean(0)  # (Q, K)
    fig = show_heatmaps(np.stack([last_mean, result])[None], xlabels=tokens, ylabels=tokens, tick_labels=True,
                        titles=[f"raw attention, layer {n_layers - 1} (head mean)", "rollout of all layers"],
                        suptitle="What one layer shows vs what reaches the top")
    out.save_figure(fig, "raw_vs_rollout", "Left: the last layer's attention alone (it mixes positions that are "
                    "already mixtures). Right: rollout, which traces the mixing back to the input tokens.")

    # 3. How the rollout builds up layer by layer.
    fig = show_heatmaps(partial[None], titles=[f"Â_{depth + 1}⋯Â_1" for depth in range(n_layers)],
                        suptitle="Rollout up to each layer (the residual keeps the diagonal alive)")
    out.save_figure(fig, "rollout_by_layer", "Partial rollouts Â_l⋯Â_1 for l = 1…L: mixing accumulates with "
                    "depth while the residual term keeps each token's share of itself.")

    # 4. The [CLS] row: which input tokens reach the sentence representation.
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(max(6, 0.5 * len(tokens)), 3.4), constrained_layout=True)
    x = np.arange(len(tokens))
    ax.bar(x - 0.2, last_mean[0], width=0.4, label=f"raw attention, layer {n_layers - 1}")
    ax.bar(x + 0.2, result[0], width=0.4, label="rollout")
    ax.set_xticks(x, tokens, rotation=90)
    ax.set_ylabel("share of the [CLS] position")
    ax.set_title(f"Where the first token ({tokens[0]}) gets its information")
    ax.legend()
    out.save_figure(fig, "cls_row", "Row 0 ([CLS]) of the last layer's attention and of the rollout. The "
                    "last layer seems to read content words; rolled out, most of the [CLS] position is [CLS] "
                    "itself — early layers send much of their attention to [CLS]/[SEP] and the product compounds it.")

    # 5. Head fusion × discard ratio.
    fusions, ratios = list(HEAD_FUSIONS), [0.0, 0.5, 0.9]
    grid = np.stack([np.stack([rollout.compute_rollout(weights, discard_ratio=r, head_fusion=f) for r in ratios])
                     for f in fusions])  # (fusions, ratios, Q, K)
    fig = show_heatmaps(grid, titles=[[f"{f}, discard {r:g}" for r in ratios] for f in fusions],
                        suptitle="Head fusion (rows) and discard ratio (columns)")
    out.save_figure(fig, "fusion_and_discard", "The variants: mean/max/min head fusion and discarding the "
                    "weakest off-diagonal weights. Max and discarding sharpen the map; the rows still sum to 1.")

    # 6. The most common mistake: multiplying in the wrong order.
    fused = 0.5 * weights.mean(1) + 0.5 * np.eye(len(tokens))  # (L, Q, K), rows already sum to 1
    wrong = fused[0]
    for layer in range(1, n_layers):
        wrong = wrong @ fused[layer]  # Â_1 · Â_2 ⋯ Â_L — the wrong order
    fig = show_heatmaps(np.stack([result if args.head_fusion == "mean" and args.discard_ratio == 0 else
                                  rollout.compute_rollout(weights, head_fusion="mean", discard_ratio=0.0),
                                  wrong])[None], xlabels=tokens, ylabels=tokens, tick_labels=True,
                        titles=["right: Â_L ⋯ Â_1", "wrong: Â_1 ⋯ Â_L"], suptitle="Order matters")
    out.save_figure(fig, "wrong_order", "Right and wrong order of the product: the first layer must be the "
                    "rightmost factor. Both have rows summing to 1, so only the order gives the mistake away.")

    # 7. A padded batch: the mask makes each example's rollout the same as running it alone.
    texts = [args.text, "Attention is not explanation."]
    batch_weights, mask, batch_tokens = model.get_batch_attention(texts)  # (L, B, H, Q, K), (B, T)
    batch_rollout = rollout.compute_rollout(batch_weights, attention_mask=mask)  # (B, Q, K)
    n_real = int(mask[1].sum())
    alone = rollout.compute_rollout(model.get_attention_weights(texts[1]))  # (Q', K')
    gap = np.abs(batch_rollout[1, :n_real, :n_real] - alone).max()
    print(f"padded batch vs alone: largest difference {gap:.2e}")
    fig = show_heatmaps(batch_rollout[1], xlabels=batch_tokens[1], ylabels=batch_tokens[1], tick_labels=True,
                        titles=[f"padded example (max diff to unpadded run {gap:.1e})"],
                        suptitle="Rollout with attention_mask: padding rows and columns are zero")
    out.save_figure(fig, "padded_batch", "The shorter sentence of a padded batch: with attention_mask the "
                    "padding positions are dropped from every layer, and the result equals the unpadded run.")


if __name__ == "__main__":
    raise SystemExit(run_lesson(main))
