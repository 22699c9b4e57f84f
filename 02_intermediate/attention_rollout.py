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
    R   = Â_L · Â_{L-1} ⋯ Â_1               # rollout (Q, K): row i = where position i's information came from

Why each step:

* **Fuse heads first, per layer.** The heads of a layer write into the same residual stream, so the layer
  mixes with (roughly) their average. Fuse *before* the residual and the product: rolling out each head on
  its own and averaging the rollouts afterwards gives a different, meaningless answer.
  ``"max"`` (a popular variant from Jacob Gildenblat's *Exploring Explainability for Vision Transformers*,
  2020) keeps each pair's strongest head and is often said to give sharper maps; ``"min"`` is the
  pessimistic one. Measure before you believe it: on this lesson's default input max fusion gives the
  *flattest* rollout of the three (the highest mean row entropy) and min the sharpest — the
  ``fusion_and_discard`` caption prints the entropies, and a test asserts the order.
* **Discard** (also from that blog post) removes the faint background weights that, multiplied twelve
  times, smear every map towards uniform. The rule, the same as exercise I1's: of the ``c`` candidate
  entries of a fused matrix (off-diagonal, real query × real key), exactly ``floor(ratio · c)`` are zeroed,
  smallest first; equal values are taken in row-major order (a stable sort). The diagonal is never touched.
* **Residual.** A transformer layer computes ``x + Attention(x)``: half of what flows up is the token
  itself. Without the identity, rollout forgets that: on the default input every row of the product
  becomes the same distribution (rows differ by < 0.01; ``residual_row_spread`` measures it). With it,
  the rows stay apart — but the residual does *not* keep the diagonal alive: a position's share of its
  own token falls at every layer, below uniform by the last (``rollout_by_layer``'s caption).
* **Renormalise rows.** ``max``, ``min`` and discarding break "rows sum to 1"; a product of row-stochastic
  matrices is row-stochastic, so every row of ``R`` is a distribution over input tokens again. Watch the
  axis: ``A / A.sum(-1)`` without ``keepdims`` divides *columns* by row sums (a bug in many copies).
* **Order.** The first layer acts first, so it is the rightmost factor: ``R_l = Â_l · R_{l-1}``.
  ``Â_1 ⋯ Â_L`` (wrong order) answers a different question and is a common mistake.

Padding: pass the tokenizer's ``attention_mask`` (``(B, T)`` or ``(T,)``, 1 = real token). Padding keys
and padding queries are dropped from every layer: each head's rows are renormalised over the real keys
before anything else, and the padding rows and columns of the result are zero. So the rollout of a padded
example is exactly the rollout of the same example alone, cut to its real tokens.

What rollout is not: it ignores the value vectors, the feed-forward blocks and the norms (Kobayashi et
al. 2020, "Attention is Not Only a Weight"), and "high attention ≠ high importance" (Jain & Wallace 2019;
Wiegreffe & Pinter 2019). Treat it as a better summary of attention than any single layer, and check it
with gradient methods (``03_advanced``). Rollout is also the starting point for attention *flow*
(``03_advanced/attention_flow.py``), which replaces the product with a maximum-flow problem.

Vectorised and frugal: the heads are fused first, layer by layer, in the input's own dtype — a float32
model output stays float32 until it is fused, as in Abnar & Zuidema's code, and a list of per-layer
tensors (``outputs.attentions``) is never stacked into one copy — and only the fused ``(L, B, Q, K)``
matrices, 12× smaller than the input, are converted to float64 and checked (§7). The discard threshold is
one ``np.partition`` per layer. The layers do not depend on each other until they are multiplied, so they
are fused and turned into ``Â_l`` side by side, one thread per core (``attnviz.parallel``). The product is
``L − 1`` matrix products, and only when you ask for one row (``row=0`` for ``[CLS]``) it is ``L − 1``
vector–matrix products instead, ``n²`` work per layer rather than ``n³``. The matrix products are the
floor: ``bench/bench_rollout.py`` measures the lesson against them and against a plain per-layer loop.

Figures, the wording of their captions and argument plumbing live in ``attnviz/rollout_figures.py``.

Run it
------
    python 02_intermediate/attention_rollout.py
    python 02_intermediate/attention_rollout.py --head-fusion max \
        --text "The trophy did not fit in the suitcase"

Usage from Python::

    from beginner.attention_basics import AttentionModel
    from intermediate.attention_rollout import AttentionRollout
    weights = AttentionModel().get_attention_weights(text)            # (L, H, Q, K)
    rollout = AttentionRollout()
    r = rollout.compute_rollout(list(weights), discard_ratio=0.1)      # (Q, K)
    cls = rollout.compute_rollout(weights, row=0)                      # (K,): row 0 only, faster
    fig = rollout.visualize(r, tokens)
"""

from __future__ import annotations

import numpy as np

from attnviz import rollout_figures, validate
from attnviz.cli import lesson_parser, run_lesson
from attnviz.normalize import HEAD_FUSIONS, row_normalize
from attnviz.outputs import LessonOutputs
from attnviz.parallel import map_on_threads
from intermediate.attention_comparison import attention_entropy

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
        self.head_fusion = validate.check_head_fusion(head_fusion)
        self.discard_ratio = rollout_figures.check_ratio(discard_ratio)
        self.add_residual = bool(add_residual)

    # ------------------------------------------------------------------------------------------ compute
    def compute_rollout(self, attention_layers, discard_ratio: float | None = None,
                        head_fusion: str | None = None, add_residual: bool | None = None,
                        attention_mask=None, row: int | None = None) -> np.ndarray:
        """The rollout ``Â_L ⋯ Â_1`` of one example or a batch.

        Args:
            attention_layers: one of
                - a list (or tuple) with one ``(H, Q, K)`` array per layer, or a ``(L, H, Q, K)`` array
                  -> ``(Q, K)``;
                - a list with one ``(B, H, Q, K)`` array per layer (what ``transformers`` returns in
                  ``outputs.attentions``), or a ``(L, B, H, Q, K)`` array -> ``(B, Q, K)``.
                  NumPy arrays and torch tensors both work. Every row must be a softmax distribution.
            discard_ratio, head_fusion, add_residual: override the constructor's defaults.
            attention_mask: optional ``(K,)`` or ``(B, K)`` with 1 for real tokens and 0 for padding; see
                the module docstring (padding is dropped, rows renormalised over the real tokens).
            row: only this row of the rollout (``0``: what reaches ``[CLS]``), computed as vector–matrix
                products -> ``(K,)`` or ``(B, K)``.

        Returns:
            ``(Q, K)`` — or ``(B, Q, K)`` for a batch — whose row ``i`` is a distribution over the input
            tokens (rows of padding positions are zero).
        """
        fused, batched, mask = self._fuse(attention_layers, head_fusion, attention_mask)  # (L, B, Q, K)
        result = self._rollout(fused, discard_ratio, add_residual, mask, partial=False, row=row)
        return result if batched else result[0]  # ([B,] Q, K) or ([B,] K)

    def rollout_by_layer(self, attention_layers, discard_ratio: float | None = None,
                         head_fusion: str | None = None, add_residual: bool | None = None,
                         attention_mask=None) -> np.ndarray:
        """Every partial rollout: entry ``l`` is ``Â_l ⋯ Â_1`` (the rollout up to and including layer ``l``).

        Same arguments as :meth:`compute_rollout`; returns ``(L, Q, K)`` or ``(L, B, Q, K)``.
        """
        fused, batched, mask = self._fuse(attention_layers, head_fusion, attention_mask)  # (L, B, Q, K)
        partial = self._rollout(fused, discard_ratio, add_residual, mask, partial=True)  # (L, B, Q, K)
        return partial if batched else partial[:, 0]

    def rollout_fused(self, fused_layers, discard_ratio: float | None = None,
                      add_residual: bool | None = None, attention_mask=None,
                      cumulative: bool = False) -> np.ndarray:
        """Rollout of matrices whose heads are already combined: ``(L, Q, K)`` or ``(L, B, Q, K)``.

        For per-layer maps that are not softmax rows — gradient-weighted attention ``E_h[(∇A ⊙ A)⁺]``
        (Chefer et al. 2021) for instance. They must be finite and non-negative; rows need not sum to 1
        (each is renormalised after the residual). Returns ``(Q, K)`` / ``(B, Q, K)``, or every partial
        product ``(L, …)`` with ``cumulative=True``.
        """
        arr, layout = validate.as_layers(fused_layers, "LQK|LBQK", name="fused_layers", stochastic=False)
        fused = arr[:, :, 0].copy()  # (L, B, 1, Q, K) -> (L, B, Q, K), a copy: _rollout works in place
        mask = validate.check_mask(attention_mask, fused.shape[-1], n_batch=fused.shape[1])  # (B, K) or None
        out = self._rollout(fused, discard_ratio, add_residual, mask, partial=cumulative)
        return out if layout == "LBQK" else out[:, 0] if cumulative else out[0]

    def _fuse(self, attention_layers, head_fusion, attention_mask):
        """Step 1 of the docstring: any accepted input -> validated fused ``(L, B, Q, K)`` float64.

        The heads are reduced in the input's own dtype (``att_mat.sum(axis=1) / n_heads`` on the float32
        array in Abnar & Zuidema's code), layer by layer; only the fused matrices, ``H`` times smaller, are
        converted to float64 and checked (§7): the head mean has rows summing to 1 exactly when the heads'
        rows average to 1, and it carries every NaN or Inf of the input. What it cannot see, for speed (§8),
        is a negative weight that another head's larger weight on the same pair hides *and* whose row still
        sums to 1 — a single negative weight changes its row's sum and is caught.
        """
        fusion = self.head_fusion if head_fusion is None else validate.check_head_fusion(head_fusion)
        layers, batched = rollout_figures.layer_arrays(attention_layers)  # L × (1, B, H, Q, K), views
        n_heads, n_keys = layers[0].shape[2], layers[0].shape[-1]
        mask = validate.check_mask(attention_mask, n_keys, n_batch=layers[0].shape[1])  # (B, K) or None
        mean = np.empty((len(layers),) + layers[0].shape[1:2] + layers[0].shape[3:])  # (L, B, Q, K) float64
        extremes = [None] * len(layers)

        def fuse(i: int) -> None:  # layer i: (1, B, H, Q, K) -> mean[i], (B, Q, K) float64, checked
            layer = layers[i]
            if mask is not None:  # each head's rows over the real keys only (a model gives padding ~0 anyway)
                layer = validate.check_attention(layer, "LBHQK", name=f"attention_layers[{i}]", square=True)
                layer = row_normalize(layer * mask[:, None, None, :])  # (1, B, H, Q, K)
            head_sum = np.add.reduce(layer[0], axis=1)  # (B, Q, K), summed in the input's dtype
            np.divide(head_sum, n_heads, out=mean[i], dtype=np.float64)  # converted, then divided
            validate.check_attention(mean[i], "BQK", name="attention_layers", square=True)
            if fusion != "mean":
                extremes[i] = layer.max(axis=2) if fusion == "max" else layer.min(axis=2)  # exact

        map_on_threads(fuse, range(len(layers)))  # the layers side by side, one thread per core
        if fusion == "mean":
            return mean, batched, mask
        extreme = np.concatenate(extremes).astype(np.float64)  # (L, B, Q, K)
        if fusion == "min":
            validate.check_attention(extreme, "LBQK", name="attention_layers", stochastic=False)  # negatives
        return extreme, batched, mask

    def _rollout(self, fused: np.ndarray, discard_ratio, add_residual, mask, *, partial: bool,
                 row: int | None = None) -> np.ndarray:
        """Steps 2–5 of the module docstring on fused ``(L, B, Q, K)`` (modified in place).

        Returns every partial product ``(L, B, Q, K)`` with ``partial=True``, else the last ``(B, Q, K)``,
        or with ``row`` only that row of it, ``(B, K)``.
        """
        ratio = self.discard_ratio if discard_ratio is None else rollout_figures.check_ratio(discard_ratio)
        residual = self.add_residual if add_residual is None else bool(add_residual)
        n_layers, n_batch, n, _ = fused.shape
        keep = None if mask is None else mask[:, :, None] & mask[:, None, :]  # (B, Q, K): real × real
        if keep is not None:
            fused = fused * keep  # drop padding rows and columns in every layer (a copy: callers keep theirs)
        diagonal = np.arange(n)

        def augmented(layer: int) -> np.ndarray:  # Â_l of every example, (B, Q, K), made in place
            if ratio > 0:
                discard_lowest(fused[layer:layer + 1], ratio, mask, copy=False)  # (1, B, Q, K) in place
            hat = fused[layer]
            if residual:
                hat *= 0.5
                hat[..., diagonal, diagonal] += 0.5  # 0.5·A + 0.5·I
                hat /= hat.sum(-1, keepdims=True)  # every row a distribution again (each sum is >= 0.5)
            else:
                sums = hat.sum(-1, keepdims=True)  # (B, Q, 1)
                np.divide(hat, sums, out=hat, where=sums > 1e-12)
                hat[(sums <= 1e-12)[..., 0]] = 0.0  # rows with no weight (padding) stay zero
            return hat

        row = None if row is None else validate.check_index(row, n, name="row")
        hats = map_on_threads(augmented, range(n_layers))  # Â_1 … Â_L, (B, Q, K) each, side by side
        if row is not None:  # e_row · Â_L ⋯ Â_1: one vector–matrix product per layer, n² work each
            vector = hats[-1][:, row, None, :]  # (B, 1, K): row `row` of Â_L
            for hat in reversed(hats[:-1]):
                vector = vector @ hat  # (B, 1, K)
            vector = vector[:, 0]  # (B, K)
            return vector if mask is None else vector * (mask & mask[:, [row]])  # padding: zero
        products = hats[0]  # (B, Q, K)
        if partial:
            every = np.empty_like(fused)  # (L, B, Q, K)
            every[0] = products
        for layer in range(1, n_layers):
            products = hats[layer] @ products  # R_l = Â_l · R_{l-1}: (B, Q, K)
            if partial:
                every[layer] = products
        if partial:
            products = every
        if keep is not None:
            products = products * keep  # padding rows/columns of the result are zero
        return products

    # ------------------------------------------------------------------------------------------ drawing
    def visualize(self, rollout, tokens, *, title: str | None = None, batch: int | None = None,
                  scale: str = "fixed", save_path=None, annotate: bool | None = None):
        """Heatmap of a rollout: rows are output positions, columns input tokens; returns the Figure.

        ``rollout`` is ``(Q, K)``, or ``(B, Q, K)`` with ``batch=`` choosing the example (a batch of one
        needs no ``batch=``). ``scale="fixed"`` colours probability on 0–1; ``scale="row"`` shows each row
        relative to its maximum. The drawing is :func:`attnviz.rollout_figures.rollout_heatmap`.
        """
        arr = rollout_figures.pick_example(rollout, batch)  # (Q, K), checked
        tokens = validate.check_tokens(tokens, arr.shape[0], name="tokens", axis="query/key")
        return rollout_figures.rollout_heatmap(arr, tokens, title, scale, annotate, save_path)  # (Q, K)


# ---------------------------------------------------------------------------------------------- helpers
def discard_lowest(fused: np.ndarray, ratio: float, mask=None, *, copy: bool = True) -> np.ndarray:
    """Zero the lowest ``ratio`` fraction of the off-diagonal entries of every ``(Q, K)`` matrix.

    ``fused`` is ``(..., B, Q, K)``; ``mask`` an optional ``(B, K)`` boolean of real tokens — then only
    real × real off-diagonal entries are candidates. The tie rule (the same as exercise I1's): of the
    ``c`` candidates of a matrix, exactly ``floor(ratio · c)`` are zeroed, smallest first, equal values in
    row-major order — what a stable sort of the candidates in row-major order would pick. The diagonal is
    kept. Vectorised: one ``np.partition`` finds the threshold value ``t``; every candidate below ``t``
    goes, and of those equal to ``t`` the first ones in row-major order make up the count.

    ``fused`` must be finite and non-negative (rows need not sum to 1: gradient-weighted maps are fused
    maps too) and ``ratio`` in ``[0, 1)``; ``copy=False`` (the lesson's own call, on matrices it has
    already checked) skips the checks and works in place.
    """
    if copy:
        ratio = rollout_figures.check_ratio(ratio, name="ratio")
        checked = validate.check_attention(fused, "BQK|LBQK", name="fused", stochastic=False, square=True)
        fused = checked.copy()  # the caller's array is never changed
        mask = validate.check_mask(mask, fused.shape[-1], n_batch=fused.shape[-3])  # (B, K) or None
    *lead, n_batch, n, _ = fused.shape
    diagonal = np.arange(n)
    real = np.ones((n_batch, n), dtype=bool) if mask is None else mask
    counts = real.sum(-1) * (real.sum(-1) - 1)  # (B,) candidates: real × real off-diagonal entries
    drop_counts = np.floor(ratio * counts).astype(int)  # (B,)
    for k in np.unique(drop_counts[drop_counts > 0]):  # examples with the same count share one partition
        rows = np.flatnonzero(drop_counts == k)
        every = len(rows) == n_batch  # the usual case: a view, no fancy-index copies
        chosen = fused if every else fused[..., rows, :, :]  # (..., b, Q, K)
        candidates = None if mask is None else real[rows][:, :, None] & real[rows][:, None, :]  # (b, Q, K)
        flat = chosen.reshape(*chosen.shape[:-2], n * n).copy()  # (..., b, Q·K), row-major
        flat[..., diagonal * (n + 1)] = np.inf  # the diagonal is never a candidate
        if candidates is not None:
            flat[..., ~candidates.reshape(len(rows), n * n)] = np.inf  # nor is padding
        flat.partition(k - 1, axis=-1)
        threshold = flat[..., k - 1, None, None]  # (..., b, 1, 1): the k-th smallest candidate
        drop = chosen <= threshold  # (..., b, Q, K)
        drop[..., diagonal, diagonal] = False
        if candidates is not None:
            drop &= candidates
        if (drop.sum((-2, -1)) != k).any():  # a tie straddles the count: the first ones in row-major order
            drop = chosen < threshold
            ties = chosen == threshold
            for part in (drop, ties):
                part[..., diagonal, diagonal] = False
                if candidates is not None:
                    part &= candidates
            still_needed = k - drop.sum((-2, -1), keepdims=True)  # (..., b, 1, 1) >= 1
            flat_ties = ties.reshape(*ties.shape[:-2], n * n)  # (..., b, Q·K) view, row-major
            flat_ties &= np.cumsum(flat_ties, axis=-1) <= still_needed[..., 0]
            drop |= ties
        np.multiply(chosen, ~drop, out=chosen)  # zero the dropped entries (all are finite)
        if not every:
            fused[..., rows, :, :] = chosen
    return fused


# ------------------------------------------------------------------------------------------------ lesson
# The measured facts the captions state. Each returns the numbers; the caption is filled from them, and
# tests/test_attention_rollout.py asserts their direction on the lesson's default input.
def diagonal_by_depth(partial) -> np.ndarray:
    """Mean diagonal of each partial rollout ``(L, Q, K)`` without position 0 (``[CLS]``) -> ``(L,)``.

    Entry ``l`` is the average share that position ``i`` of ``Â_l ⋯ Â_1`` keeps of its own input token.
    """
    arr = validate.check_attention(partial, "LQK", name="partial", square=True)
    if arr.shape[-1] < 2:
        raise ValueError(f"partial: got {arr.shape[-1]} token(s); the diagonal without position 0 needs >= 2")
    return np.diagonal(arr, axis1=-2, axis2=-1)[:, 1:].mean(-1)  # (L,)


def fusion_entropies(weights, rollout: AttentionRollout, fusions=HEAD_FUSIONS, ratios=(0.0, 0.5, 0.9)):
    """Every (fusion, discard ratio) rollout and its mean row entropy in nats.

    Returns ``(grid (F, R, Q, K), entropies (F, R))``."""
    grid = np.stack([np.stack([rollout.compute_rollout(weights, discard_ratio=r, head_fusion=f)
                               for r in ratios]) for f in fusions])  # (F, R, Q, K)
    return grid, attention_entropy(grid, per="head")  # (F, R): mean over the query rows


def first_token_shares(weights, result) -> dict:
    """How much each row gives to position 0 (``[CLS]``): raw last layer (head mean) and rollout ``(Q,)``."""
    weights = validate.check_attention(weights, "LHQK", name="weights", square=True)
    rolled = validate.check_attention(result, "QK", name="result", square=True)[:, 0]  # (Q,)
    if len(rolled) != weights.shape[-1]:
        raise ValueError(f"result: has {len(rolled)} tokens but weights has {weights.shape[-1]}")
    raw = weights[-1].mean(0)[:, 0]  # (Q,)
    return {"raw": raw, "rollout": rolled}


def residual_row_spread(weights, rollout: AttentionRollout) -> dict:
    """The largest difference between two rows of the rollout (per key), with and without the residual."""
    spread = {}
    for residual in (True, False):
        r = rollout.compute_rollout(weights, add_residual=residual, discard_ratio=0.0)  # (Q, K)
        spread[residual] = float(np.ptp(r, axis=0).max())
    return spread


def _rollout_figures(out, model_name: str, weights, tokens, rollout: AttentionRollout, fusion: str,
                     ratio: float):
    """The rollout, its interactive twin, the last layer beside it, and the partial products."""
    n_layers = weights.shape[0]
    partial = rollout.rollout_by_layer(list(weights))  # (L, Q, K)
    result = partial[-1]  # (Q, K)
    fig = rollout.visualize(result, tokens, title=f"{model_name}: rollout over {n_layers} layers "
                            f"({fusion} of heads, discard {ratio:g})")
    rollout_figures.save_rollout(out, fig, result, tokens, model_name)  # the figure and its HTML twin
    rollout_figures.save_raw_vs_rollout(out, weights[-1].mean(0), result, tokens,  # (Q, K) beside (Q, K)
                                        first_token_shares(weights, result), last_layer=n_layers - 1)
    rollout_figures.save_rollout_by_layer(out, partial, diagonal_by_depth(partial), tokens)  # (L,) diagonals
    return result


def cls_row_shares(weights, rollout: AttentionRollout) -> dict:
    """Row 0 ([CLS]) of the last layer's head mean and of the rollout, and the share [CLS] keeps of itself."""
    weights = validate.check_attention(weights, "LHQK", name="weights", square=True)
    raw = weights[-1].mean(0)[0]  # (K,)
    rolled = rollout.compute_rollout(weights, row=0)  # (K,): one vector–matrix product per layer
    return {"raw": raw, "rollout": rolled, "raw_self": float(raw[0]), "rollout_self": float(rolled[0])}


def _cls_row_demo(out, weights, tokens, rollout: AttentionRollout):
    """Which input tokens reach the first position, in one layer and rolled out."""
    rollout_figures.save_cls_row(out, cls_row_shares(weights, rollout), tokens, weights.shape[0] - 1)


def wrong_order_gap(weights, rollout: AttentionRollout) -> tuple[np.ndarray, np.ndarray, float]:
    """The rollout in the right order, the product in the wrong order ``Â_1 ⋯ Â_L``, and their largest gap."""
    weights = validate.check_attention(weights, "LHQK", name="weights", square=True)
    right = rollout.compute_rollout(weights, head_fusion="mean", discard_ratio=0.0)  # (Q, K)
    n = weights.shape[-1]
    fused = 0.5 * weights.mean(1) + 0.5 * np.eye(n)  # (L, Q, K), rows already sum to 1
    fused /= fused.sum(-1, keepdims=True)
    wrong = fused[0]
    for layer in range(1, len(fused)):
        wrong = wrong @ fused[layer]  # Â_1 · Â_2 ⋯ Â_L — the wrong order
    return right, wrong, float(np.abs(right - wrong).max())


def _variants_demo(out, weights, tokens, rollout: AttentionRollout):
    """Head fusion × discard ratio, and the product in the wrong order."""
    fusions, ratios = list(HEAD_FUSIONS), [0.0, 0.5, 0.9]
    grid, entropies = fusion_entropies(weights, rollout, fusions, ratios)  # (F, R, Q, K), (F, R)
    rollout_figures.save_fusion_grid(out, grid, entropies, fusions, ratios, len(tokens))
    right, wrong, gap = wrong_order_gap(weights, rollout)
    sums_gap = max(np.abs(right.sum(-1) - 1).max(), np.abs(wrong.sum(-1) - 1).max())
    rollout_figures.save_wrong_order(out, right, wrong, tokens, gap, sums_gap)


def _padded_batch_demo(out, model, text: str, rollout: AttentionRollout):
    """A padded batch: the mask makes each example's rollout the same as running it alone."""
    texts = [text, "Attention is not explanation."]
    batch_weights, mask, batch_tokens = model.get_batch_attention(texts)  # (L, B, H, Q, K), (B, T)
    batch_rollout = rollout.compute_rollout(batch_weights, attention_mask=mask)  # (B, Q, K)
    n_real = int(mask[1].sum())
    alone = rollout.compute_rollout(model.get_attention_weights(texts[1]))  # (Q', K')
    gap = np.abs(batch_rollout[1, :n_real, :n_real] - alone).max()
    print(f"padded batch vs alone: largest difference {gap:.2e}")
    rollout_figures.save_padded_batch(out, batch_rollout[1], batch_tokens[1], gap)  # (Q, K) of example 1
    return gap


def main(argv=None):
    parser = lesson_parser(__doc__, text=DEFAULT_TEXT)
    parser.add_argument("--head-fusion", default="mean", choices=HEAD_FUSIONS,
                        help="how heads are fused (default: mean)")
    parser.add_argument("--discard-ratio", type=float, default=0.0,
                        help="fraction of weakest weights dropped (default: 0)")
    args = parser.parse_args(argv)
    out = LessonOutputs(__file__, args.out)

    from beginner.attention_basics import AttentionModel

    model = AttentionModel(args.model, device=args.device)
    weights = model.get_attention_weights(args.text)  # (L, H, Q, K)
    tokens = model.tokens(args.text)
    rollout = AttentionRollout(head_fusion=args.head_fusion, discard_ratio=args.discard_ratio)
    result = _rollout_figures(out, model.name, weights, tokens, rollout, args.head_fusion, args.discard_ratio)
    print(f"{model.name}: {weights.shape[0]} layers × {weights.shape[1]} heads, {len(tokens)} tokens; "
          f"rollout {result.shape}")
    _cls_row_demo(out, weights, tokens, rollout)
    _variants_demo(out, weights, tokens, rollout)
    _padded_batch_demo(out, model, args.text, rollout)


if __name__ == "__main__":
    raise SystemExit(run_lesson(main))
