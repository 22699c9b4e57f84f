"""Lesson 3.1 — Attention flow: how much can travel from an input token to an output position, exactly.

The idea
--------
Rollout (``02_intermediate/attention_rollout.py``) treats each layer as a *mixing* of the layer below and
multiplies the mixing matrices. Abnar & Zuidema (2020, "Quantifying Attention Flow in Transformers",
ACL) also proposed a second reading: treat the layers as a **pipe network** and ask how much can flow.

* **Capacities.** Per layer ``l`` the heads are averaged and the residual connection is added, exactly as
  for rollout::

      Ā_l = mean_h A_l,h                       (Q, K)
      Â_l = 0.5 · Ā_l + 0.5 · I,  rows renormalised to sum to 1

* **The graph.** One node per token per layer: ``(l, t)`` for layers ``l = 0 … L`` (``0`` = the input
  embeddings, ``L`` = the top). The edge from token ``i`` at layer ``l`` down to token ``j`` at layer
  ``l − 1`` has capacity ``Â_l[i, j]``: the share of position ``i``'s mixture that comes from position ``j``.
* **Attention flow.** ``F[i, j]`` is the value of the **maximum flow** from token ``i`` at the top to token
  ``j`` at the input — the most that can be pushed through the network without exceeding any capacity.

By the max-flow/min-cut theorem (Ford & Fulkerson 1956) ``F[i, j]`` is also the smallest total capacity of
a set of edges whose removal disconnects the two: flow measures the *bottleneck* between ``i`` and ``j``,
where rollout measures the *sum over all paths of the product* of the weights. Two bottlenecks are always
there: everything leaving the top token (its row of ``Â_L`` sums to 1) and everything entering input token
``j`` (column ``j`` of ``Â_1``, the first layer). So ``F[i, j] ≤ min(1, Σ_k Â_1[k, j])`` — and on the
lesson's default sentence most pairs sit exactly on that bound (the ``flow_bottleneck`` figure counts
them): attention flow is a blunt, saturated quantity, dominated by how much the first layer attends to
``j``. Rows of ``F`` do not sum to 1. **The published code row-normalises** each output position's flows
before plotting or correlating them (``compute_flow(..., normalize=True)`` reproduces its numbers); the raw
max-flow values, the default here, are what the max-flow/min-cut reading is about. Ethayarajh & Jurafsky
(2021, "Attention Flows are Shapley Value Explanations") show that the flow is a Shapley value of a flow game.

Making it exact *and* fast
--------------------------
The published code builds the graph in ``networkx`` and runs one Edmonds–Karp max-flow (Edmonds & Karp
1972) per pair: ``n²`` problems, each on ``L·n²`` edges, in pure Python. :func:`flow_networkx` keeps that
reference. Two shortcuts need no search at all (:func:`closed_form_flow`): ``L = 1`` gives ``F = Â_1``, and
for ``L = 2`` every middle token ``k`` lies on exactly one path ``i → k → j``, the paths share no edge, so
``F[i, j] = Σ_k min(Â_2[i, k], Â_1[k, j])``.

Deeper networks go to a solver that *certifies* its answers (``attnviz/maxflow.py`` writes out the proof):
every feasible flow is a lower bound on ``F[i, j]`` and every cut an upper bound, so a flow and a cut that
meet within ``1e-7`` prove the answer, however they were found (cuts from a dynamic programme over the
lanes of ``i`` and ``j``; flows from push–relabel (Goldberg & Tarjan 1988), compiled with numba, which
stops as soon as a pair's flow reaches its cut and starts each sink from the previous sink's flow;
``compute_flow(..., return_info=True)`` reports the proven error bound). With ``n²`` pairs, all pairs are
practical up to about a hundred tokens; ``compute_flow(..., rows=[0])`` computes only the rows asked for
(the lesson does this above ``FULL_FLOW_MAX`` tokens, the dashboard for the row under the mouse). The
pairs are independent, so by default they are shared between one thread per core (``workers``).
``bench/bench_flow.py`` measures both against per-pair networkx and scipy, in one thread and in the
default; ``bench/RESULTS.md`` has the seconds.

Gradient-weighted flow
----------------------
Raw attention says where a head *looks*, not whether the output *cares*. Weighting each weight by how
much the output ``y`` changes with it, per layer::

    G_l = mean_h ( A_l,h ⊙ |∂y / ∂A_l,h| )          (Q, K)

keeps the shape of attention, so it can be plotted like it — and rolled out or sent through the same
max-flow network (rows renormalised, residual added) in place of ``Ā_l``. The derivative is taken with
respect to the attention *probabilities* themselves: with eager attention, ``transformers`` returns the
very softmax tensors the forward pass used, so ``retain_grad()`` on them gives ``∂y/∂A`` of the same
``(B, H, Q, K)`` shape (``attnviz.gradients.attention_gradients``, for any scalar target). The outline this
course grew from writes "``A ⊙ |∇V|``": a gradient with respect to the *values* has their shape, not the
attention matrix's, so it cannot multiply ``A``. Chefer et al.'s ``E_h[(∇A ⊙ A)⁺]`` is the next lesson.

Pitfalls: flow values are *not* probabilities of a row (normalise explicitly and say so); ``mean`` over
heads before the residual, never after; the edge direction is top → input (``Â_l[i, j]`` on the edge from
``i`` at layer ``l`` to ``j`` at layer ``l − 1``) — reversing it computes the flow of the transposed problem.

Where things live: the solver in ``attnviz/maxflow.py``; figures, caption wording, model loading and
option plumbing in ``attnviz/flow_figures.py``. The measurements every caption states are here.

Run it
------
    python 03_advanced/attention_flow.py
    python 03_advanced/attention_flow.py --text "The trophy did not fit in the suitcase because it was big"

Usage from Python::

    from advanced.attention_flow import AttentionFlow
    F = AttentionFlow().compute_flow(list(weights))                  # list of (heads, q, k) -> (q, k)
    F, info = AttentionFlow().compute_flow(list(weights), return_info=True)
    F_cls = AttentionFlow().compute_flow(list(weights), rows=[0])      # (1, k): only the [CLS] row
    from attnviz.gradients import attention_gradients, next_token_logit
    A, dA = attention_gradients(model, inputs, next_token_logit())  # (L, B, H, Q, K) each, numpy
    G = gradient_weighted_flow(A[:, 0], dA[:, 0])                    # (layers, q, k)
    F_grad = AttentionFlow().compute_flow_fused(G, normalize=True)   # flow through the weighted maps
"""

from __future__ import annotations

import time

import numpy as np

from attnviz import flow_figures
from attnviz.cli import lesson_parser, run_lesson
from attnviz.gradients import attention_gradients, check_attention_gradients, embedding_similarity
from attnviz.maxflow import FlowInfo, all_pairs_max_flow, check_rows
from attnviz.normalize import fuse_heads, row_normalize
from attnviz.outputs import LessonOutputs
from attnviz.validate import as_layers, check_attention, check_head_fusion, check_index, check_mask, to_numpy

DEFAULT_TEXT = "The cat sat on the mat because it was tired."
DEFAULT_OTHER = "A sleepy kitten is lying on a rug."


# ================================================================================== the attention flow
class AttentionFlow:
    """Attention flow (Abnar & Zuidema 2020): per pair, the maximum flow through the layered attention graph.

    Args:
        head_fusion: how a layer's heads become one matrix: ``"mean"`` (the paper), ``"max"`` or ``"min"``.
        add_residual: use ``0.5·A + 0.5·I`` (rows renormalised) as the capacities (default True).
        tolerance: a lower and an upper bound closer than this settle a pair (default 1e-7).
        workers: threads that share the independent per-pair problems (default: one per core this process
            may use, or ``OMP_NUM_THREADS`` if lower; ``workers=1`` solves them one after another). More
            threads shorten the wall-clock time when the cores are free, not on a busy machine
            (``bench/bench_flow.py`` measures by how much).
    """

    def __init__(self, head_fusion: str = "mean", add_residual: bool = True, tolerance: float = 1e-7,
                 workers: int | None = None):
        check_head_fusion(head_fusion)
        self.tolerance, self.workers = flow_figures.check_solver_options(tolerance, workers)
        self.head_fusion, self.add_residual = head_fusion, bool(add_residual)

    def capacities(self, attention_layers, head_fusion: str | None = None, add_residual: bool | None = None,
                   attention_mask=None) -> np.ndarray:
        """The edge capacities ``Â_l`` of every layer, ``(L, Q, K)`` (rows sum to 1), from raw attention.

        ``attention_layers``: a list with one ``(H, Q, K)`` array per layer, or an ``(L, H, Q, K)`` array.
        With ``attention_mask`` (``(K,)``, 1 = real token) padding rows and columns are dropped first.
        """
        attention = as_layers(attention_layers, "LHQK")[0][:, 0]  # (L, 1, H, Q, K) -> (L, H, Q, K)
        fusion = check_head_fusion(self.head_fusion if head_fusion is None else head_fusion)
        keep = check_mask(attention_mask, attention.shape[-1])  # (K,) booleans, or None
        if keep is not None:
            attention = row_normalize(attention[..., keep, :][..., keep])  # (L, H, q, q) real tokens only
        fused = fuse_heads(attention, fusion, axis=1)  # (L, Q, K)
        return residual_capacities(fused, self.add_residual if add_residual is None else add_residual,
                                   stochastic=fusion == "mean")  # max/min fusion: rows do not sum to 1

    def compute_flow(self, attention_layers, normalize: bool = False, head_fusion: str | None = None,
                     add_residual: bool | None = None, attention_mask=None, return_info: bool = False,
                     rows=None):
        """Attention flow ``F`` ``(Q, K)``: ``F[i, j]`` = max-flow from top token ``i`` to input token ``j``.

        Args:
            attention_layers: one ``(H, Q, K)`` array (numpy or torch) per layer, first layer first, or
                ``(L, H, Q, K)``. Every row must be a softmax distribution.
            normalize: divide each row by its sum (for plotting next to rollout); default: raw flow values.
            attention_mask: optional ``(K,)`` with 0 for padding: padding rows and columns of ``F`` are 0.
            return_info: also return a :class:`FlowInfo` (how pairs were settled, the proven error bound).
            rows: optional top positions (e.g. ``[0]`` for ``[CLS]``): only their rows are computed and
                returned, ``(len(rows), K)`` — what a long input needs when one output is explained.
        """
        caps = self.capacities(attention_layers, head_fusion, add_residual, attention_mask)  # (L, q, q)
        keep = None if attention_mask is None else to_numpy(attention_mask).astype(bool)  # checked above
        n_keys = caps.shape[-1] if keep is None else keep.size
        real = np.arange(n_keys) if keep is None else np.flatnonzero(keep)  # (q,): original positions
        picked = None if rows is None else flow_figures.rows_among_real(rows, keep, real)  # (R,) in [0, q)
        flow, info = self.flow_from_capacities(caps, normalize=normalize, return_info=True, rows=picked)
        if keep is not None:
            full = np.zeros((flow.shape[0] if rows is not None else n_keys, n_keys))  # (Q or R, K)
            full[np.ix_(np.arange(flow.shape[0]) if rows is not None else real, real)] = flow
            flow = full
        return (flow, info) if return_info else flow

    def compute_flow_fused(self, fused_layers, normalize: bool = False, add_residual: bool | None = None,
                           return_info: bool = False):
        """Flow through per-layer maps whose heads are already combined, ``(L, Q, K)``, e.g. the
        gradient-weighted ``G_l = mean_h(A ⊙ |∂y/∂A|)``. The maps must be finite and non-negative; each row
        is renormalised to sum to 1 (an all-zero row keeps only the residual) before the residual is added.
        """
        maps = check_attention(fused_layers, "LQK", name="fused_layers", stochastic=False, square=True)
        residual = self.add_residual if add_residual is None else add_residual
        caps = residual_capacities(maps, residual, stochastic=False)  # (L, Q, K), rows renormalised
        return self.flow_from_capacities(caps, normalize=normalize, return_info=return_info)

    def flow_from_capacities(self, capacities, normalize: bool = False, return_info: bool = False, rows=None):
        """The solver itself, on capacities ``Â`` ``(L, Q, K)`` (first layer first, rows summing to 1):
        the closed forms for one or two layers, the certified solver of ``attnviz/maxflow.py`` beyond.
        ``rows``: optional indices of the top positions to compute; then ``(len(rows), K)`` is returned."""
        caps = check_attention(capacities, "LQK", name="capacities", square=True)
        rows = None if rows is None else check_rows(rows, caps.shape[-1])  # (R,) in [0, K)
        start = time.perf_counter()
        if caps.shape[0] <= 2:
            flow = closed_form_flow(caps)  # (Q, K)
            flow = flow if rows is None else flow[rows]  # (R, K)
            info = FlowInfo(pairs=flow.size, closed_form=flow.size)
        else:
            flow, info = all_pairs_max_flow(caps, self.tolerance, self.workers, rows=rows)
        info.seconds = time.perf_counter() - start
        if normalize:
            flow = row_normalize(flow)
        return (flow, info) if return_info else flow

    def visualize(self, flow, tokens, *, title: str | None = None, normalized: bool = False, save_path=None):
        """Heatmap of a flow matrix on a fixed 0–1 scale (see :func:`attnviz.flow_figures.flow_heatmap`)."""
        return flow_figures.flow_heatmap(flow, tokens, title=title, normalized=normalized,
                                         save_path=save_path)


def residual_capacities(fused, add_residual: bool = True, *, stochastic: bool = True) -> np.ndarray:
    """``Â = 0.5 · Ā + 0.5 · I`` with rows renormalised — the same step as in rollout.

    ``fused`` ``(L, Q, K)``, square, finite and non-negative. By default its rows must sum to 1 (head-fused
    attention, mean fusion). Maps that are not distributions — gradient-weighted ``A ⊙ |∂y/∂A|``, or max/min
    fusion — pass ``stochastic=False``: each row is then divided by its sum first (an all-zero row keeps only
    the residual, or stays zero without it)."""
    arr = check_attention(fused, "LQK", name="fused", stochastic=stochastic, square=True)  # (L, Q, K)
    arr = row_normalize(arr, name="fused")  # (L, Q, K), zero rows stay zero
    if add_residual:
        arr = 0.5 * arr + 0.5 * np.eye(arr.shape[-1])
    return row_normalize(arr)


def closed_form_flow(capacities) -> np.ndarray:
    """The flow of a network with one or two layers, without any search, ``(Q, K)``.

    One layer: the edge ``i → j`` is the only path, so ``F = Â_1``. Two layers: every middle token ``k``
    lies on exactly one path ``i → k → j`` and no two paths share an edge, so each carries
    ``min(Â_2[i, k], Â_1[k, j])`` and ``F[i, j] = Σ_k min(Â_2[i, k], Â_1[k, j])``.
    """
    caps = check_attention(capacities, "LQK", name="capacities", square=True)
    if caps.shape[0] == 1:
        return caps[0].copy()
    if caps.shape[0] == 2:
        return np.minimum(caps[1][:, :, None], caps[0][None, :, :]).sum(1)  # (i, k, j) summed over k
    raise ValueError(f"capacities: got {caps.shape[0]} layers; the closed forms cover one or two")


# ================================================================================ the published reference
def layered_graph(capacities):
    """The flow network as a ``networkx.DiGraph``: nodes ``(layer, token)``; edge ``(l, i) → (l − 1, j)``
    with ``capacity = Â_l[i, j]`` (``capacities[l - 1]``, first layer first). Layer 0 is the input."""
    import networkx as nx

    caps = check_attention(capacities, "LQK", name="capacities", square=True)
    graph = nx.DiGraph()
    for layer in range(1, caps.shape[0] + 1):
        for i in range(caps.shape[1]):
            for j in range(caps.shape[2]):
                graph.add_edge((layer, i), (layer - 1, j), capacity=float(caps[layer - 1, i, j]))
    return graph


def flow_networkx(capacities, flow_func=None) -> np.ndarray:
    """The per-pair reference: one ``networkx`` max-flow for every (top token, input token) pair.

    ``flow_func=networkx.algorithms.flow.edmonds_karp`` is what the published code uses; the default
    (``None``) is networkx's preflow-push. Slow on purpose — it is what the fast solver is measured against.
    """
    import networkx as nx

    caps = check_attention(capacities, "LQK", name="capacities", square=True)
    n_layers, n = caps.shape[:2]
    graph = layered_graph(caps)
    flow = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            flow[i, j] = nx.maximum_flow_value(graph, (n_layers, i), (0, j), flow_func=flow_func)
    return flow


# ============================================================================ gradient-weighted flow
def gradient_weighted_flow(attention, gradients, head_fusion: str = "mean") -> np.ndarray:
    """Per layer, ``fuse_h(A ⊙ |∂y/∂A|)``: ``(L, [B,] H, Q, K)`` -> ``(L, [B,] Q, K)``.

    Non-negative, zero where the output does not depend on a weight; rows do not sum to 1.
    """
    weights, grads = check_attention_gradients(attention, gradients)
    return fuse_heads(weights * np.abs(grads), head_fusion, axis=-3)  # (L, [B,] Q, K)


# =============================================================== what the captions state, measured (issue 13)
def column_spread(matrix) -> float:
    """Mean over the columns of ``max − min`` down the column (over the rows): 0 when every top position
    gives input token ``j`` the same value. ``matrix`` ``(Q, K)``, non-negative."""
    arr = check_attention(matrix, "QK", name="matrix", stochastic=False)
    return float(np.ptp(arr, axis=0).mean())


def row_entropy_fraction(matrix) -> float:
    """Mean entropy of the rows, each divided by its sum, as a fraction of ``log K`` (1 = uniform rows).
    ``matrix`` ``(Q, K)``, non-negative, every row with some mass."""
    arr = row_normalize(check_attention(matrix, "QK", name="matrix", stochastic=False))  # (Q, K)
    if arr.shape[-1] < 2:
        raise ValueError(f"matrix: got {arr.shape[-1]} key; the entropy fraction needs at least 2")
    logs = np.log(np.where(arr > 0, arr, 1.0))  # 0 · log 0 = 0
    return float((-(arr * logs).sum(-1)).mean() / np.log(arr.shape[-1]))


def mass_on(matrix, columns) -> float:
    """Mean over the rows (each divided by its sum) of the share that lands on ``columns`` (``(K,)`` booleans,
    e.g. the special tokens [CLS] and [SEP])."""
    arr = row_normalize(check_attention(matrix, "QK", name="matrix", stochastic=False))  # (Q, K)
    return float(arr[:, flow_figures.column_choice(columns, arr.shape[-1], "columns")].sum(-1).mean())


def bound_counts(flow, capacities, row: int, atol: float = 1e-6) -> dict:
    """How many flows sit on the trivial bottleneck ``min(1, Σ_k Â_1[k, j])``: in ``row`` and over all pairs,
    and how many of the pairs below it the structured cuts of ``attnviz/maxflow.py`` (the lanes of the two
    tokens down the layers) account for. ``flow`` ``(Q, K)``, ``capacities`` ``(L, Q, K)``."""
    from attnviz.maxflow import cut_upper_bounds

    caps = check_attention(capacities, "LQK", name="capacities", square=True)
    arr = check_attention(flow, "QK", name="flow", stochastic=False, square=True)
    if arr.shape != caps.shape[1:]:
        raise ValueError(f"flow: got shape {arr.shape}; expected {caps.shape[1:]} to match capacities")
    row = check_index(row, arr.shape[0], name="row")
    trivial = np.minimum(1.0, caps[0].sum(0))[None, :]  # (1, K): the two trivial cuts
    at_bound = np.isclose(arr, trivial, atol=atol)  # (Q, K)
    on_lane_cut = np.isclose(arr, cut_upper_bounds(caps), atol=atol) & ~at_bound  # (Q, K)
    return {"row_at": int(at_bound[row].sum()), "row_total": arr.shape[1],
            "share_all": float(at_bound.mean()), "below": int((~at_bound).sum()),
            "below_on_lane_cut": int(on_lane_cut.sum()),
            "rows_all_at": int(at_bound.all(1).sum())}


def flow_rollout_caption(flow, rollout) -> str:
    """The ``flow_vs_rollout`` caption, filled from the column spread of the two maps."""
    return flow_figures.spread_caption(column_spread(flow), column_spread(rollout))


def row_shape_caption(normalized_flow, rollout) -> str:
    """The ``flow_vs_rollout_rows`` caption, filled from the row entropies of the two maps."""
    return flow_figures.row_shape_text(row_entropy_fraction(normalized_flow), row_entropy_fraction(rollout))


def gradient_shares(maps, rollout, flow, special) -> dict:
    """Special-token shares and row entropies of rollout/flow of attention and of the gradient-weighted maps.

    ``maps`` ``(L, Q, K)`` = :func:`gradient_weighted_flow` of one example; ``special`` ``(K,)`` booleans."""
    from intermediate.attention_rollout import AttentionRollout

    maps = check_attention(maps, "LQK", name="maps", stochastic=False, square=True)
    special = flow_figures.column_choice(special, maps.shape[-1], "special")  # (K,) booleans
    methods = {"rollout": rollout, "flow": row_normalize(flow),
               "gradient rollout": AttentionRollout().rollout_fused(row_normalize(maps)),  # rows renormalised
               "gradient flow": AttentionFlow().compute_flow_fused(maps, normalize=True)}
    shares = {name: mass_on(matrix, special) for name, matrix in methods.items()}
    shares["uniform"] = float(special.mean())
    entropies = {name: row_entropy_fraction(matrix) for name, matrix in methods.items()}
    return {"shares": shares, "entropies": entropies, "maps": methods}


# ============================================================================================== the lesson
FULL_FLOW_MAX = 64  # above this many tokens the lesson computes only the chosen row (``rows=[row]``)


def _flow_demo(out, name, weights, tokens, row):
    """Flow of every pair, checked on one row against networkx; flow vs rollout; the bottleneck. Above
    ``FULL_FLOW_MAX`` tokens only the chosen row is computed (``rows=[row]``) and drawn as bars."""
    import networkx as nx

    from intermediate.attention_rollout import AttentionRollout

    n_layers, n_heads, n = weights.shape[:3]
    flow_model = AttentionFlow()
    caps = flow_model.capacities(list(weights))  # (L, Q, K)
    rollout = AttentionRollout().compute_rollout(list(weights))  # (Q, K)
    if n > FULL_FLOW_MAX:
        flow_row, info = flow_model.compute_flow(list(weights), rows=[row], return_info=True)  # (1, K)
        print(f"{name}: {n} tokens: only row {row} ({tokens[row]}) is computed (rows=[{row}]) in "
              f"{info.seconds:.2f} s; proven error ≤ {info.error_bound:.1e}")
        at = int(np.isclose(flow_row[0], np.minimum(1.0, caps[0].sum(0)), atol=1e-6).sum())  # on the bound
        fig = flow_figures.bound_figure(flow_row[0], rollout[row], caps[0].sum(0), tokens,
                                        f"Row {row} ({tokens[row]}): {at} of {n} flows at the bound")
        out.save_figure(fig, "flow_bottleneck", flow_figures.long_input_bound_caption(n, at))
        return None, rollout
    flow, info = flow_model.compute_flow(list(weights), return_info=True)  # (Q, K)
    print(f"{name}: {n_layers} layers × {n_heads} heads, {n} tokens; flow of all {n * n} pairs in "
          f"{info.seconds:.2f} s ({info.certified} stopped at a cut bound, {info.solved} run to the end; "
          f"proven error ≤ {info.error_bound:.1e})")

    # 1. The row against the published per-pair networkx reference.
    graph = layered_graph(caps)
    start = time.perf_counter()
    reference = np.array([nx.maximum_flow_value(graph, (n_layers, row), (0, j),
                                                flow_func=nx.algorithms.flow.edmonds_karp) for j in range(n)])
    seconds = time.perf_counter() - start
    gap = np.abs(flow[row] - reference).max()
    print(f"row {row} against networkx Edmonds–Karp: max |difference| {gap:.1e}; "
          f"networkx took {seconds:.2f} s for {n} pairs (~{seconds * n:.1f} s for all {n * n})")

    # 2. Flow and rollout side by side: the raw values on one fixed scale, then the shapes of the rows.
    normalized = row_normalize(flow)
    fig = flow_figures.flow_vs_rollout_figure(flow, rollout, tokens, name, n_layers)
    out.save_figure(fig, "flow_vs_rollout", flow_rollout_caption(flow, rollout))
    spreads = row_entropy_fraction(normalized) > row_entropy_fraction(rollout)
    fig = flow_figures.row_shape_figure(normalized, rollout, tokens, spreads)
    out.save_figure(fig, "flow_vs_rollout_rows", row_shape_caption(normalized, rollout))
    flow_figures.save_flow_html(out, flow, tokens, name)

    # 3. Why: the first layer's column sums are a cut, and many flows sit on it.
    counts = bound_counts(flow, caps, row)
    print(f"{100 * counts['share_all']:.0f}% of the pairs have flow = min(1, Σ_k Â_1[k, j]) "
          f"(the two trivial bottlenecks); row {row}: {counts['row_at']} of {n}")
    fig = flow_figures.bound_figure(flow[row], rollout[row], caps[0].sum(0), tokens,
                                    flow_figures.bottleneck_title(counts, row, tokens[row]))
    out.save_figure(fig, "flow_bottleneck", flow_figures.bottleneck_caption(counts))
    return flow, rollout


def gradient_maps(model, inputs, other_text: str, tokenizer):
    """``mean_h(A ⊙ |∂y/∂A|)`` per layer ``(L, Q, K)`` for ``y`` = cosine similarity of the sentence embedding
    of ``inputs`` with that of ``other_text``; also returns ``y``."""
    import torch

    other = flow_figures.sentence_embedding(model, tokenizer, other_text)  # (d,): mean-pooled, no gradient
    target = embedding_similarity(other, inputs["attention_mask"])
    attention, grads = attention_gradients(model, dict(inputs), target)  # (L, B, H, Q, K) each
    with torch.no_grad():
        similarity = float(target(model(**inputs)).item())
    return gradient_weighted_flow(attention[:, 0], grads[:, 0]), similarity  # (L, Q, K)


def _gradient_demo(out, loaded, inputs, tokens, other_text, flow, rollout):
    """Gradient-weighted attention per layer, and its rollout and flow next to plain attention's."""
    maps, similarity = gradient_maps(loaded.model, inputs, other_text, loaded.tokenizer)  # (L, Q, K)
    fig = flow_figures.gradient_layers_figure(maps, tokens, other_text, similarity)
    out.save_figure(fig, "gradient_weighted_per_layer", flow_figures.GRADIENT_LAYERS_CAPTION)
    if flow is None:  # a long input: the all-pairs comparison below needs every row of the flow
        print(f"{len(tokens)} tokens: the all-pairs comparison of gradient-weighted flow is skipped "
              f"(> {FULL_FLOW_MAX})")
        return
    special = np.isin(tokens, loaded.tokenizer.all_special_tokens)  # (K,): [CLS], [SEP], ...
    measured = gradient_shares(maps, rollout, flow, special)
    methods = measured["maps"]
    fig = flow_figures.gradient_comparison_figure(methods, tokens)
    special_names = sorted(set(np.asarray(tokens)[special].tolist()))
    out.save_figure(fig, "gradient_flow_vs_rollout",
                    flow_figures.gradient_caption(measured["shares"], measured["entropies"], special_names))
    cells = np.stack([methods[m].ravel() for m in ("rollout", "flow", "gradient rollout", "gradient flow")])
    corr = np.corrcoef(cells)  # (4, 4) over all Q·K cells
    print(f"correlation over all cells: rollout/flow {corr[0, 1]:.2f}, rollout/gradient-rollout "
          f"{corr[0, 2]:.2f}, flow/gradient-flow {corr[1, 3]:.2f}")


def main(argv=None):
    parser = flow_figures.add_flow_options(lesson_parser(__doc__, text=DEFAULT_TEXT), DEFAULT_OTHER)
    args = parser.parse_args(argv)
    out = LessonOutputs(__file__, args.out)
    loaded, inputs, tokens, weights = flow_figures.load_encoder(args)
    row = check_index(args.row, len(tokens), name="row")
    flow, rollout = _flow_demo(out, loaded.name, weights, tokens, row)
    _gradient_demo(out, loaded, inputs, tokens, args.other, flow, rollout)


if __name__ == "__main__":
    raise SystemExit(run_lesson(main))
