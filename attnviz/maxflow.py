"""Exact attention flow for every pair of tokens, fast: a certified all-pairs max-flow solver.

The lesson ``03_advanced/attention_flow.py`` defines attention flow (Abnar & Zuidema 2020): capacities
``Â_l`` ``(L, n, n)`` (rows summing to 1), one node per token per layer, an edge from token ``i`` at layer
``l`` down to token ``j`` at layer ``l − 1`` with capacity ``Â_l[i, j]``, and ``F[i, j]`` the maximum flow
from token ``i`` at the top to token ``j`` at the input. It keeps the readable per-pair networkx reference
and the closed forms for one and two layers; this module computes the same ``n²`` numbers for ``L ≥ 2``
layers with a proof of accuracy.

Why the answer is exact (to a proven bound)
-------------------------------------------
1. **Every flow is a lower bound, every cut an upper bound.** For any feasible flow of value ``f`` and any
   ``s``–``t`` cut of capacity ``c``: ``f ≤ F ≤ c`` (weak duality; max-flow = min-cut, Ford & Fulkerson 1956).
   If ``c − f ≤ tol``, returning ``c`` is within ``tol`` of ``F`` — no further search is needed.
2. **Upper bounds for all pairs at once** (:func:`cut_upper_bounds`). A dynamic programme over the layers
   finds the cheapest cut among those whose source side, layer by layer, is one of eight token sets made
   from ``i`` and ``j`` (``∅, {i}, {j}, {i, j}`` and their complements): each such cut's capacity is a sum
   over layers of a term that depends only on the sets at the two ends of the layer, so the cheapest of the
   ``8^(L−1)`` is a shortest path (Viterbi). Every candidate is a genuine cut, so the minimum is a valid upper
   bound. A second bound, the *tree relaxation*, ``u_l(k) = Σ_m min(Â_l[k, m], u_{l−1}(m))`` from
   ``u_0 = [m = j]``, bounds what a node can deliver by pretending the paths below it share nothing (a flow
   through ``k → m`` is limited both by the edge and by what ``m`` can deliver); the smaller bound is kept.
3. **Lower bounds from an integer max-flow in C.** ``scipy.sparse.csgraph.maximum_flow`` (Dinic 1970) works
   on integer capacities only. We give it ``⌊2³⁰ · Â⌋``. Rounding *down* keeps every integer flow feasible for
   the true capacities, so ``value / 2³⁰ ≤ F``; ``2³⁰`` is a power of two, so the scaling itself is exact in
   floating point. A flow in a *subgraph* is a flow in the graph: for long inputs a first try keeps only the
   ``PRUNE_KEEP`` largest weights of each middle-layer row (and the diagonal), when a sample of pairs shows
   that this subgraph already reaches the cut bounds.
4. **Certify or refine.** If that lower bound is within ``tol`` of a cut bound, the cut's capacity is the
   answer. If not, the integer flow proves its own minimum cut — the nodes still reachable from the source
   through arcs with integer capacity left; that is a genuine cut, evaluated here with the *true*
   capacities, and it usually closes the gap. If it does not, the rounding error is still bounded: each of
   the ``|E|`` edges lost less than ``2⁻³⁰``, and the min cut of the true network is at most the min cut of
   the rounded one plus those losses, so ``0 ≤ F − lower ≤ Δ ≤ |E| · 2⁻³⁰``. The *residual* network of the
   integer flow (what is left of each true capacity, plus the reverse arcs that undo it) has max-flow
   exactly ``F − lower``; we solve it once more, capacities clipped at ``Δ`` (no ``s``–``t`` flow of value ``≤ Δ``
   needs more on one arc) and scaled by the power of two ``2^⌊log₂(2³⁰/Δ)⌋``. Its own rounding error is at
   most ``|E'| / scale ≈ |E'| · Δ · 2⁻³⁰ ≤ |E|² · 2⁻⁶⁰`` — about ``2·10⁻¹⁰`` at 64 tokens × 6 layers, and
   reported per pair in :class:`FlowInfo`.

The ``n²`` problems are independent: with ``workers > 1`` they are shared between forked processes (the
capacities are inherited through a module global, not pickled per task).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from attnviz.validate import check_attention

SCALE = 2**30  # integer scale for scipy's max-flow: capacities <= 1 become integers <= 2**30 < 2**31
PRUNE_KEEP = 16  # the first lower bound keeps this many largest weights per row of each middle layer
TREE_MAX = 128  # above this many tokens the n³ tree bound is not computed
SPARSE_MIN = 129  # from this many tokens on, each pair is solved on its own sparse subgraph first


def check_rows(rows, n_tokens: int, *, negative: bool = False) -> np.ndarray:
    """Validate ``rows`` (the top positions whose flows are wanted): a non-empty list of integer positions in
    ``[0, n_tokens)`` (``[-n_tokens, n_tokens)`` with ``negative=True``, Python-style). Returns ``(R,)`` ints."""
    if isinstance(rows, (str, bytes)) or rows is None:
        raise TypeError(f"rows: got {type(rows).__name__}; expected a list of token positions, e.g. [0]")
    picked = np.atleast_1d(np.asarray(rows, dtype=object))
    if picked.ndim != 1 or picked.size == 0:
        raise ValueError(f"rows: got shape {picked.shape}; expected a non-empty list of token positions, e.g. [0]")
    if not all(isinstance(r, (int, np.integer)) and not isinstance(r, bool) for r in picked):
        raise TypeError(f"rows: got {rows!r}; expected integer token positions, e.g. [0]")
    picked = picked.astype(np.int64)
    low = -n_tokens if negative else 0
    if picked.min() < low or picked.max() >= n_tokens:
        bad = picked[(picked < low) | (picked >= n_tokens)][0]
        raise ValueError(f"rows: position {bad} is out of range for {n_tokens} tokens; expected "
                         f"{low} ≤ row < {n_tokens}")
    return picked


@dataclass
class FlowInfo:
    """How each pair was settled, and the accuracy that was proved."""

    pairs: int = 0
    closed_form: int = 0  # L <= 2: no max-flow needed
    certified: int = 0  # a flow and a cut met within the tolerance
    refined: int = 0  # solved again on the residual network at a finer scale
    sparse: int = 0  # settled on a sparse subgraph of their own (long inputs)
    error_bound: float = 0.0  # proven: |returned value - exact max-flow| <= error_bound for every pair
    seconds: float = 0.0


# ==================================================================================== bounds for all pairs
def cut_upper_bounds(capacities) -> np.ndarray:
    """For every pair ``(i, j)`` the capacity of a cheap cut: an upper bound on ``F[i, j]``, ``(Q, K)``.

    Two families, both evaluated for all ``n²`` pairs at once:

    * **Structured cuts.** The source side of a cut holds, at each layer, one of eight token sets made
      from ``i`` and ``j``: ``∅, {i}, {j}, {i, j}`` and their complements. The capacity of such a cut is a
      sum over layers of a term that depends only on the sets at the two ends of the layer
      (``Σ_{k ∈ X, m ∉ Y} Â_l[k, m]``, computed from row sums, column sums and single entries), so the
      cheapest of the ``8^(L−1)`` cuts is a shortest path through ``L − 1`` columns of 8 states (Viterbi).
      The family contains the two bottlenecks (the top token's row, the input token's column) and the lanes
      the residual ``0.5 · I`` builds for a token down through the layers.
    * **Tree relaxation.** What a node can deliver to ``j`` is at most ``Σ_m min(Â_l[k, m], u_{l-1}(m))`` —
      pretending the paths below share nothing — recursively from ``u_0 = [m = j]``.
    """
    caps = check_attention(capacities, "LQK", name="capacities", square=True)
    return _upper_bounds(caps)


def _upper_bounds(caps: np.ndarray, rows=None) -> np.ndarray:
    """Both bounds for the source ``rows`` (default all), ``(R, n)``. The tree bound costs ``L·n³``: it is
    left out above ``TREE_MAX`` tokens, where the structured cuts alone serve."""
    structured = _structured_cut_bound(caps, rows)
    return structured if caps.shape[1] > TREE_MAX else np.minimum(structured, _tree_bound(caps, rows))


_STATES = [(a, b, g) for a, b, g in
           [(0, 0, 0), (0, 1, 0), (0, 0, 1), (0, 1, 1), (1, -1, 0), (1, 0, -1), (1, -1, -1), (1, 0, 0)]]
# a state (α, β, γ) is the token set with indicator α·1 + β·e_i + γ·e_j (e_j counted only when j ≠ i)


def _stage_term(matrix: np.ndarray, x: tuple, y: tuple, n: int, rows=None) -> np.ndarray:
    """``Σ_{k ∈ X, m ∉ Y} M[k, m]`` for all pairs ``(i, j)`` at once, ``(R, n)`` (``R`` = the source rows,
    default all ``n``); ``X``, ``Y`` are states."""
    i = (np.arange(n) if rows is None else np.asarray(rows))[:, None]  # (R, 1): the sources
    j = np.arange(n)[None, :]  # (1, n): the sinks
    other = (i != j).astype(float)  # e_j counts only when j differs from i
    rows, cols, total = matrix.sum(1), matrix.sum(0), matrix.sum()  # (n,), (n,), scalar
    (a1, b1, g1), (a2, b2, g2) = x, y
    c0, c1, c2 = 1 - a2, -b2, -g2  # indicator of "not Y" = c0·1 + c1·e_i + c2·e_j
    term = (a1 * (c0 * total + c1 * cols[i] + c2 * cols[j] * other)
            + b1 * (c0 * rows[i] + c1 * matrix[i, i] + c2 * matrix[i, j] * other)
            + g1 * other * (c0 * rows[j] + c1 * matrix[j, i] + c2 * matrix[j, j]))
    return np.broadcast_to(term, (i.shape[0], n))


def _structured_cut_bound(caps: np.ndarray, rows=None) -> np.ndarray:
    n_layers, n = caps.shape[:2]
    i = (np.arange(n) if rows is None else np.asarray(rows))[:, None]  # (R, 1): the sources
    j = np.arange(n)[None, :]  # (1, n): the sinks
    if n_layers == 1:  # the single edge i -> j is the whole network
        return caps[0][i[:, 0]].copy()
    shape = (i.shape[0], n)
    # top layer: the source side there is the top token {i} itself
    best = np.stack([_stage_term(caps[-1], (0, 1, 0), s, n, rows) for s in _STATES])  # (8, R, n) per state
    for layer in range(n_layers - 1, 1, -1):  # the middle layers, top to bottom: Â_{L-1} … Â_2
        m = caps[layer - 1]
        best = np.stack([np.min([best[si] + _stage_term(m, s, t, n, rows) for si, s in enumerate(_STATES)],
                                axis=0) for t in _STATES])  # (8, R, n): cheapest cut with state t here
    # bottom layer: the sink side at the input is {j} (other input tokens are dead ends, source side)
    m, cols = caps[0], caps[0].sum(0)
    other = (i != j).astype(float)
    last = [a * cols[j] + b * m[i, j] + g * other * m[j, j] for a, b, g in _STATES]  # (R, n) each
    return np.min(best + np.stack([np.broadcast_to(t, shape) for t in last]), axis=0)


def _tree_bound(caps: np.ndarray, rows=None) -> np.ndarray:
    n_layers = caps.shape[0]
    deliver = caps[0].copy()  # (k, j): what token k at layer 1 can deliver to input token j
    for layer in range(1, n_layers):
        top = caps[layer] if layer < n_layers - 1 or rows is None else caps[layer][np.asarray(rows)]
        # (k, m, j): min(capacity k→m, what m delivers to j), summed over m
        deliver = np.minimum(top[:, :, None], deliver[None, :, :]).sum(1)  # (k, j)
    return deliver  # (i, j): the top token i (the chosen rows only)


# ================================================================================ exact flows for all pairs
class _PairNetwork:
    """The network of one pair ``(i, j)`` in the CSR form scipy wants, reused for every pair.

    Nodes: 0 = the top token ``i`` (source), 1 = the input token ``j`` (sink), ``2 + d·n + k`` = token ``k`` at
    the ``d``-th layer below the top (``d = 0`` is layer ``L − 1``). Only the source's row and the sink's
    column change from pair to pair, so they are written into one array in place. ``keep`` optionally
    restricts the middle layers to a subset of edges (a subgraph: its flows are flows of the whole graph).
    """

    def __init__(self, caps: np.ndarray, keep: list[np.ndarray] | None = None):
        import scipy.sparse as sparse

        n_layers, n = caps.shape[:2]
        self.n, self.depth = n, n_layers - 1  # depth = number of middle layers
        self.nodes = 2 + self.depth * n
        middle = [caps[n_layers - 2 - d] for d in range(self.depth - 1)]  # (n, n) each, top to bottom
        masks = keep if keep is not None else [np.ones((n, n), bool) for _ in middle]
        row_length = np.zeros(self.nodes, np.int64)
        row_length[0] = n  # source -> every token of layer L-1
        heads, values = [2 + np.arange(n)], [np.zeros(n)]
        for d, (matrix, mask) in enumerate(zip(middle, masks)):
            row_length[2 + d * n: 2 + (d + 1) * n] = mask.sum(1)
            rows, cols = np.nonzero(mask)  # row-major: sorted by tail, then by head
            heads.append(2 + (d + 1) * n + cols)
            values.append(matrix[rows, cols])
        row_length[2 + (self.depth - 1) * n:] = 1  # every token of layer 1 -> sink
        heads.append(np.ones(n, np.int64))
        values.append(np.zeros(n))
        self.true_values = np.concatenate(values)  # float capacities; source/sink slots are filled per pair
        self.indptr = np.concatenate([[0], np.cumsum(row_length)]).astype(np.int32)
        self.indices = np.concatenate(heads).astype(np.int32)
        self.tails = np.repeat(np.arange(self.nodes), row_length)  # (E,) tail of every edge
        self.edges = self.indices.size
        data = np.floor(self.true_values * SCALE).astype(np.int32)  # exact: SCALE is a power of two
        self.graph = sparse.csr_array((data, self.indices, self.indptr), shape=(self.nodes, self.nodes))
        self.graph.has_sorted_indices = True
        self.top, self.bottom = caps[-1], caps[0].T.copy()  # source rows, sink columns (as rows)
        self.top_int = np.floor(self.top * SCALE).astype(np.int32)
        self.bottom_int = np.floor(self.bottom * SCALE).astype(np.int32)
        self._lookup = None

    def lower_bound(self, i: int, j: int, return_result: bool = False):
        """``⌊2³⁰·Â⌋``-capacity max-flow / 2³⁰ ≤ F[i, j] (and scipy's result, for the steps below)."""
        from scipy.sparse.csgraph import maximum_flow

        n = self.n
        self.graph.data[:n] = self.top_int[i]
        self.graph.data[-n:] = self.bottom_int[j]
        result = maximum_flow(self.graph, 0, 1)
        value = result.flow_value / SCALE
        return (value, result) if return_result else value

    def _arcs(self, flow):
        """scipy's flow matrix (our edges plus the reverse arcs it adds) as arrays: per arc its tail, head,
        flow, and the position of the edge in ``true_values`` (-1 for an added reverse arc)."""
        if self._lookup is None:
            self._lookup = np.full((self.nodes, self.nodes), -1, np.int64)  # (V, V): edge position or -1
            self._lookup[self.tails, self.indices] = np.arange(self.edges)
        arcs = flow.indptr[-1]  # its index and data arrays may be longer than the matrix uses
        tails = np.repeat(np.arange(self.nodes), np.diff(flow.indptr))
        heads = flow.indices[:arcs]
        return tails, heads, flow.data[:arcs], self._lookup[tails, heads]

    def _true(self, i: int, j: int) -> np.ndarray:
        true = self.true_values.copy()
        true[: self.n], true[-self.n:] = self.top[i], self.bottom[j]
        return true

    def min_cut_capacity(self, i: int, j: int, result) -> float:
        """The true capacity of the minimum cut the integer flow proves: the tokens still reachable from the
        source through arcs with integer capacity left form its source side. An upper bound on F[i, j]."""
        import scipy.sparse as sparse
        from scipy.sparse.csgraph import breadth_first_order

        tails, heads, flow, position = self._arcs(result.flow)
        capacity = np.where(position >= 0, self.graph.data[np.maximum(position, 0)], 0)
        left = capacity - flow > 0  # (arcs,): integer residual capacity remains
        residual = sparse.csr_array((np.ones(left.sum(), np.int8), (tails[left], heads[left])),
                                    shape=(self.nodes, self.nodes))
        reach = np.zeros(self.nodes, bool)
        reach[breadth_first_order(residual, 0, directed=True, return_predecessors=False)] = True
        crossing = (position >= 0) & reach[tails] & ~reach[heads]  # original edges leaving the source side
        return float(self._true(i, j)[position[crossing]].sum())

    def refine(self, i: int, j: int, result, delta: float) -> tuple[float, float]:
        """Max-flow of the residual network left by ``result``, which is known to be at most ``delta``.

        Returns ``(extra flow, proven bound on its rounding error)``. The residual capacity of an arc is
        what the integer flow left of its true capacity (reverse arcs: the flow that can be undone).
        """
        import scipy.sparse as sparse
        from scipy.sparse.csgraph import maximum_flow

        tails, heads, flow, position = self._arcs(result.flow)
        true = np.where(position >= 0, self._true(i, j)[np.maximum(position, 0)], 0.0)
        residual = true - flow / SCALE  # >= 0: rounding down kept the integer flow feasible
        scale = 2.0 ** np.floor(np.log2(SCALE / delta))  # a power of two: the scaling is exact
        data = np.floor(np.clip(residual, 0.0, delta) * scale).astype(np.int32)
        network = sparse.csr_array((data, heads, result.flow.indptr), shape=(self.nodes, self.nodes))
        extra = maximum_flow(network, 0, 1).flow_value / scale
        return extra, data.size / scale


def all_pairs_max_flow(capacities, tolerance: float = 1e-7, workers: int = 1, rows=None) -> tuple[np.ndarray, FlowInfo]:
    """Max-flow ``F[i, j]`` from token ``i`` at the top to token ``j`` at the input, for every pair, ``(n, n)``.

    ``capacities``: ``(L, n, n)``, first layer first, rows summing to 1, ``L ≥ 2``. Returns the flow and a
    :class:`FlowInfo` with the accuracy proved (steps 1–4 of the module docstring).
    """
    caps = check_attention(capacities, "LQK", name="capacities", square=True)
    if not 0 < float(tolerance) <= 1e-6:
        raise ValueError(f"tolerance: got {tolerance}; expected a number in (0, 1e-6]")
    n_layers, n = caps.shape[:2]
    if n_layers < 2:
        raise ValueError(f"capacities: got {n_layers} layer; the solver needs at least 2 (one layer: F = Â)")
    wanted = np.arange(n) if rows is None else check_rows(rows, n)  # (R,)
    info = FlowInfo(pairs=wanted.size * n)
    upper = np.full((n, n), np.inf)
    upper[wanted] = _upper_bounds(caps, wanted)  # (R, n): the cut bounds of the wanted rows
    keep = None
    flow = upper.copy()
    pending = np.zeros((n, n), bool)  # pairs not yet settled
    pending[wanted] = True
    errors = []
    if n >= SPARSE_MIN:  # long inputs: every pair on its own sparse subgraph first (step 5)
        for i in np.unique(wanted):
            base = _top_masks(caps)
            for mask in base:
                mask[i, :] = True  # the source's lane and everything leaving it
            edges = [np.nonzero(mask) for mask in base]  # (rows, cols) per middle layer, once per source
            for j in range(n):
                settled = _solve_sparse(caps, int(i), j, upper[i, j], tolerance, base, edges)
                if settled is not None:
                    flow[i, j], rounding = settled
                    pending[i, j] = False
                    if rounding is not None:
                        errors.append(rounding)
    elif n > 2 * PRUNE_KEEP:  # a cheaper first lower bound on a subgraph, when a sample shows it pays
        keep = _top_masks(caps)
        pruned = _PairNetwork(caps, keep)
        sample = [(i, (7 * i + 3) % n) for i in wanted]  # pairs spread over rows and columns
        settled = [upper[i, j] - pruned.lower_bound(i, j) <= tolerance for i, j in sample]
        for (i, j), ok in zip(sample, settled):
            pending[i, j] &= not ok
        if np.mean(settled) < 0.8:
            keep = None  # the subgraph rarely reaches the bound here: go straight to the whole graph
    pairs = list(zip(*np.nonzero(pending)))
    for i, j, value, rounding in _solve_pairs_in_parallel(caps, upper, tolerance, keep, pairs, workers):
        flow[i, j] = value
        if rounding is not None:
            errors.append(rounding)
    info.refined = len(errors)
    info.certified = info.pairs - info.refined
    info.sparse = info.pairs - int(pending[wanted].sum()) if n >= SPARSE_MIN else 0
    info.error_bound = max(max(errors, default=0.0), tolerance if info.certified else 0.0)
    return flow[wanted], info


def _top_masks(caps: np.ndarray) -> list[np.ndarray]:
    """Per middle layer (top to bottom), the ``PRUNE_KEEP`` largest weights of every row and the diagonal."""
    n_layers, n = caps.shape[:2]
    masks = []
    for d in range(n_layers - 2):
        matrix = caps[n_layers - 2 - d]  # (n, n)
        largest = np.argpartition(-matrix, min(PRUNE_KEEP, n - 1), axis=1)[:, :PRUNE_KEEP]  # (n, 16)
        mask = np.zeros((n, n), bool)
        mask[np.arange(n)[:, None], largest] = True
        mask[np.arange(n), np.arange(n)] = True  # keep the residual lane
        masks.append(mask)
    return masks


def _solve_sparse(caps: np.ndarray, i: int, j: int, upper: float, tolerance: float, base: list, edges: list,
                  rounds: int = 3):
    """Step 5: the pair ``(i, j)`` on a subgraph of its own — the largest weights of every row, plus row ``i``
    (already in ``base`` and its edge lists ``edges``) and column ``j`` of every middle layer: the edges of
    the lane cuts around the two tokens.

    A flow of the subgraph is a flow of the network (lower bound); the minimum cut it proves is evaluated
    with *all* the network's edges (upper bound). When they meet, the pair is settled; when not, the edges
    of the network that cross that cut are added and the subgraph is solved again. Returns ``(value,
    rounding error or None)``, or ``None`` after ``rounds`` tries (the caller then solves the whole network).
    """
    masks = None  # the first round: the source's edge lists and column j, without building masks
    for _ in range(rounds):
        if masks is None:
            lists = []
            for mask, (rows, cols) in zip(base, edges):
                missing = np.flatnonzero(~mask[:, j])  # rows whose edge into token j is not kept yet
                lists.append((np.concatenate([rows, missing]), np.concatenate([cols, np.full(missing.size, j)])))
        else:
            lists = [np.nonzero(mask) for mask in masks]
        network = _SubNetwork(caps, i, j, lists)
        value, reach = network.lower_bound()
        cut = network.full_cut(reach)  # an upper bound: a cut of the whole network
        best = min(cut, upper)
        if best - value <= tolerance:
            return best, None
        extra, _ = network.refine(min(best - value, network.edges / SCALE))
        if best - (value + extra) <= tolerance:  # the exact flow lies between the two
            return value + extra, best - (value + extra)
        crossing = network.crossing(reach)  # the network's edges that leave the cut's source side
        if masks is None:
            masks = [m.copy() for m in base]
            for mask in masks:
                mask[:, j] = True  # everything entering the sink's lane
        if not any((c & ~m).any() for c, m in zip(crossing, masks)):
            return None  # nothing left to add: the subgraph's cut is a cut of the network, yet no meeting
        masks = [m | c for m, c in zip(masks, crossing)]
    return None


class _SubNetwork:
    """One pair's network restricted to ``masks`` (one ``(n, n)`` boolean per middle layer, top to bottom).

    Nodes as in :class:`_PairNetwork`: 0 = source, 1 = sink, ``2 + d·n + k`` = token ``k`` at the ``d``-th
    layer below the top. Capacities rounded down to multiples of ``2⁻³⁰`` (step 3); ``refine`` is step 4 on
    this subgraph.
    """

    def __init__(self, caps: np.ndarray, i: int, j: int, edges: list):
        import scipy.sparse as sparse

        n_layers, n = caps.shape[:2]
        self.caps, self.n, self.depth, self.i, self.j = caps, n, n_layers - 1, i, j
        self.nodes = 2 + self.depth * n
        tails, heads, values = [np.zeros(n, np.int64)], [2 + np.arange(n)], [caps[-1][i]]  # source row
        for d, (rows, cols) in enumerate(edges):  # the kept edges of each middle layer, no duplicates
            tails.append(2 + d * n + rows)
            heads.append(2 + (d + 1) * n + cols)
            values.append(caps[n_layers - 2 - d][rows, cols])
        tails.append(2 + (self.depth - 1) * n + np.arange(n))  # every token of layer 1 -> sink
        heads.append(np.ones(n, np.int64))
        values.append(caps[0][:, j])
        tails, heads, true = np.concatenate(tails), np.concatenate(heads), np.concatenate(values)
        self.edges = true.size
        shape = (self.nodes, self.nodes)
        self.true = sparse.csr_array((true, (tails, heads)), shape=shape)  # float capacities
        self.true.sum_duplicates()
        self.graph = self.true.copy()
        self.graph.data = np.floor(self.true.data * SCALE).astype(np.int32)  # exact: SCALE is a power of 2
        self._result = None

    def lower_bound(self):
        """The integer max-flow / 2³⁰ and the nodes its residual network still reaches from the source."""
        from scipy.sparse.csgraph import breadth_first_order, maximum_flow

        self._result = maximum_flow(self.graph, 0, 1)
        residual = (self.graph - self._result.flow).tocsr()  # forward: capacity − flow; reverse: the flow
        residual.data = (residual.data > 0).astype(np.int8)
        residual.eliminate_zeros()
        reach = np.zeros(self.nodes, bool)
        reach[breadth_first_order(residual, 0, directed=True, return_predecessors=False)] = True
        return self._result.flow_value / SCALE, reach

    def _layers(self, reach: np.ndarray) -> np.ndarray:
        return reach[2:].reshape(self.depth, self.n)  # (depth, n): source side, layer by layer from the top

    def full_cut(self, reach: np.ndarray) -> float:
        """The capacity, with every edge of the whole network, of the cut whose source side is ``reach``."""
        caps, side = self.caps, self._layers(reach).astype(float)  # (depth, n)
        total = caps[-1][self.i] @ (1 - side[0])  # source edges into the sink side
        for d in range(self.depth - 1):  # source side above -> sink side below (few rows: a slice)
            total += (caps[-2 - d][side[d] > 0] @ (1 - side[d + 1])).sum()
        return float(total + side[-1] @ caps[0][:, self.j])  # layer-1 tokens on the source side -> sink

    def crossing(self, reach: np.ndarray) -> list[np.ndarray]:
        """Per middle layer, the edges from the source side above to the sink side below, ``(n, n)`` each."""
        side = self._layers(reach)
        return [side[d][:, None] & ~side[d + 1][None, :] for d in range(self.depth - 1)]

    def refine(self, delta: float) -> tuple[float, float]:
        """Step 4 on this subgraph: max-flow of the residual network, clipped at ``delta``, at a finer scale."""
        import scipy.sparse as sparse
        from scipy.sparse.csgraph import maximum_flow

        if delta <= 0:
            return 0.0, 0.0
        residual = (self.true - self._result.flow / SCALE).tocsr()  # true capacity − flow, reverse arcs
        residual.data = np.clip(residual.data, 0.0, delta)
        scale = 2.0 ** np.floor(np.log2(SCALE / delta))  # a power of two: the scaling is exact
        data = np.floor(residual.data * scale).astype(np.int32)
        network = sparse.csr_array((data, residual.indices, residual.indptr), shape=residual.shape)
        return maximum_flow(network, 0, 1).flow_value / scale, data.size / scale


def _solve_pairs(caps: np.ndarray, upper: np.ndarray, tolerance: float, keep, pairs) -> list[tuple]:
    """Steps 3–4 for the given pairs: ``(i, j, value, rounding error or None if certified)`` each."""
    pruned = None if keep is None else _PairNetwork(caps, keep)
    full = _PairNetwork(caps)
    bound = full.edges / SCALE  # each edge lost < 2**-30 to rounding down: F - lower <= |E| / 2**30
    out = []
    for i, j in pairs:
        if pruned is not None and upper[i, j] - pruned.lower_bound(i, j) <= tolerance:
            out.append((i, j, upper[i, j], None))  # certified by a structured cut and a flow in the subgraph
            continue
        value, result = full.lower_bound(i, j, return_result=True)
        if upper[i, j] - value <= tolerance:
            out.append((i, j, upper[i, j], None))  # certified by a structured cut
            continue
        cut = full.min_cut_capacity(i, j, result)
        if cut - value <= tolerance:
            out.append((i, j, min(cut, upper[i, j]), None))  # certified by the solver's own cut
            continue
        delta = min(min(upper[i, j], cut) - value, bound)  # two proven bounds on F - value
        extra, rounding = full.refine(i, j, result, delta)
        out.append((i, j, value + extra, rounding))
    return out


_SHARED: tuple = ()  # what forked workers inherit: (caps, upper, tolerance, keep)


def _solve_chunk(pairs):
    return _solve_pairs(*_SHARED, pairs)


def _solve_pairs_in_parallel(caps, upper, tolerance, keep, pairs, workers: int) -> list[tuple]:
    """The pairs are independent problems: with ``workers > 1`` they are split between forked processes.
    Same answers, in less wall-clock time when the cores are free."""
    import multiprocessing

    global _SHARED
    if workers <= 1 or len(pairs) < 2 * workers or "fork" not in multiprocessing.get_all_start_methods():
        return _solve_pairs(caps, upper, tolerance, keep, pairs)
    _SHARED = (caps, upper, tolerance, keep)
    chunks = [pairs[k::workers] for k in range(workers)]  # interleaved: rows of similar cost spread out
    try:
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            return [item for chunk in pool.map(_solve_chunk, chunks) for item in chunk]
    except (OSError, AssertionError):  # no processes allowed here (e.g. inside a daemonic worker): stay serial
        return _solve_pairs(caps, upper, tolerance, keep, pairs)
    finally:
        _SHARED = ()
