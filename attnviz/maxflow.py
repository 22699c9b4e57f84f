"""Exact attention flow for every pair of tokens, fast: a compiled, certified all-pairs max-flow solver.

The lesson ``03_advanced/attention_flow.py`` defines attention flow (Abnar & Zuidema 2020): capacities
``Â_l`` ``(L, n, n)`` (rows summing to 1), one node per token per layer, an edge from token ``i`` at layer
``l`` down to token ``j`` at layer ``l − 1`` with capacity ``Â_l[i, j]``, and ``F[i, j]`` the maximum flow
from token ``i`` at the top to token ``j`` at the input. It keeps the readable per-pair networkx reference
and the closed forms for one and two layers; this module computes the same ``n²`` numbers for ``L ≥ 2``
layers, with a proof of accuracy for each.

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
3. **Flows from push–relabel, stopped at the bound** (Goldberg & Tarjan 1988; :func:`_source_row_flows`).
   Every arc out of the source is filled; a node holding more than it passes on (an *excess*) pushes it
   along arcs with room left towards a neighbour one step nearer the sink, by the *height* of each node,
   and is lifted when no such arc is left — back towards the source if need be. The heights start, and are
   now and then reset, as exact distances to the sink (a backwards breadth-first search); when the sink
   changes they are reset to each layer's distance from the input instead, which is always valid and needs
   no search; a height no node holds any more (a *gap*) cuts off everything above it. Whatever has reached
   the sink is, at any moment, the value of a genuine flow (a preflow's paths to the sink carry it), so a
   pair stops as soon as that reaches its cut bound from step 2 minus ``tol`` — by step 1 its answer is
   then proven. The network of one pair is never built: a node is (layer, token), its arcs are a row or a
   column of ``Â``, and the flow on every edge lives in one ``(L − 2, n, n)`` array. One source's sinks are
   taken one after the other, each starting from the previous sink's flow (what fits into the new sink's
   arcs stays; the rest waits in the last layer as excess), all of it in one compiled loop (numba), so no
   pair pays a Python call.
4. **Otherwise the search runs to the end and proves its own cut.** When no excess can reach the sink, the
   nodes that still reach it in the residual network form the sink side of a cut; its capacity, summed from
   the true ``Â``, is an upper bound, and the flow a lower one. Floating point: an arc counts as open only
   while it has more than ``EPS = 2⁻⁴⁴`` left, so every push moves at least that much and the search ends;
   each update of a flow or an excess rounds by at most ``2⁻⁵³`` (values ≤ 1), so the flow can overstate a
   feasible one by at most ``2 · updates · 2⁻⁵³`` — counted and subtracted from the lower bound. A pair whose
   cut and flow are still further apart than ``tol`` is solved again with ``FINE_EPS = 2⁻⁵⁰``.

``FlowInfo`` says how each pair was settled and the largest proven error. The ``n²`` problems are
independent: with ``workers > 1`` the source rows (or, for a single row, its sinks) are shared between
threads, which run side by side because the compiled loop lets go of Python's global lock (``nogil``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from attnviz.parallel import map_on_threads
from attnviz.validate import check_attention

EPS = 2.0**-44  # an arc with at most this much left is treated as full (step 4)
FINE_EPS = 2.0**-50  # the second try for a pair whose cut and flow did not meet within the tolerance
ROUNDING = 2.0**-53  # the largest rounding of one update of a flow <= 1 (half a unit in the last place)
TREE_MAX = 128  # above this many tokens the n³ tree bound is not computed


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


def check_tolerance(tolerance) -> float:
    """The tolerance within which a flow and a cut settle a pair, checked: a number in ``(0, 1e-6]``."""
    if not 0 < float(tolerance) <= 1e-6:
        raise ValueError(f"tolerance: got {tolerance}; expected a number in (0, 1e-6]")
    return float(tolerance)


@dataclass
class FlowInfo:
    """How each pair was settled, and the accuracy that was proved."""

    pairs: int = 0
    closed_form: int = 0  # L <= 2: no max-flow needed
    certified: int = 0  # the flow reached a structured cut bound within the tolerance (stopped early)
    solved: int = 0  # push–relabel ran to the end: the flow and the cut it proves met within the tolerance
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
# One source's network, sink by sink. The middle layers are numbered from the top, d = 0 … D − 1 (d = 0 is
# layer L − 1, d = D − 1 is layer 1); token k of middle layer d is node d·n + k, the source (token i at the
# top) is node D·n, the sink (token j at the input) node D·n + 1. The flow on every edge is kept in
# ``flow_top`` (n,), ``flow_middle`` (D − 1, n, n) and ``flow_bottom`` (n,) — the network is never built.
# An arc of node (d, k) is numbered a = 0 … n − 1 going down (to token a of layer d + 1; from the last
# middle layer only a = 0, to the sink) and a = n … 2n − 1 going up (undoing flow that came from token
# a − n of layer d − 1; none from d = 0, whose flow came from the source).
@njit(cache=True, nogil=True)
def _arc_head(d, a, n, depth):
    """The node that arc ``a`` of a node of middle layer ``d`` leads to (the sink, ``depth·n + 1``, from the
    last middle layer's arc ``a = 0``)."""
    if a >= n:
        return (d - 1) * n + a - n
    return depth * n + 1 if d == depth - 1 else (d + 1) * n + a


@njit(cache=True, nogil=True)
def _next_arc(d, a, n, depth):
    """The arc after ``a``: from the last middle layer's only arc down (``a = 0``, to the sink) straight to
    its first arc up (``a = n``)."""
    return n if d == depth - 1 and a == 0 else a + 1


@njit(cache=True, nogil=True)
def _arc_end(d, n):
    """One past a node's last arc: ``2n``, or ``n`` in the first middle layer (its flow came from the source,
    which no arc leads back to)."""
    return n if d == 0 else 2 * n


@njit(cache=True, nogil=True)
def _room(d, k, a, n, depth, middle, bottom, flow_middle, flow_bottom):
    """What arc ``a`` of node ``(d, k)`` has left: capacity minus flow going down, the flow going up."""
    if a < n:
        if d == depth - 1:
            return bottom[k] - flow_bottom[k]
        return middle[d, k, a] - flow_middle[d, k, a]
    return flow_middle[d - 1, a - n, k]


@njit(cache=True, nogil=True)
def _distances_to_sink(n, depth, middle, bottom, flow_middle, flow_bottom, eps, label, queue):
    """Every node's distance to the sink in the residual network (breadth-first, backwards from the sink);
    ``nodes`` where the sink cannot be reached, and for the source."""
    nodes = depth * n + 2
    label[:] = nodes
    label[nodes - 1] = 0
    tail = 0
    for k in range(n):  # the last middle layer: an arc into the sink with room left
        if bottom[k] - flow_bottom[k] > eps:
            label[(depth - 1) * n + k] = 1
            queue[tail] = (depth - 1) * n + k
            tail += 1
    head = 0
    while head < tail:
        v = queue[head]
        head += 1
        d, k = v // n, v % n
        if d >= 1:  # from token m of the layer above, down into v
            for m in range(n):
                u = (d - 1) * n + m
                if label[u] == nodes and middle[d - 1, m, k] - flow_middle[d - 1, m, k] > eps:
                    label[u] = label[v] + 1
                    queue[tail] = u
                    tail += 1
        if d <= depth - 2:  # from token m of the layer below, back up into v (undoing v's flow to m)
            for m in range(n):
                u = (d + 1) * n + m
                if label[u] == nodes and flow_middle[d, k, m] > eps:
                    label[u] = label[v] + 1
                    queue[tail] = u
                    tail += 1


@njit(cache=True, nogil=True)
def _global_relabel(n, depth, middle, bottom, flow_middle, flow_bottom, eps, label, queue, count, pointer):
    """Exact heights for every node (:func:`_distances_to_sink`), the number of nodes at each height (for the
    gap rule) counted again, and every node's arc search started from its first arc."""
    _distances_to_sink(n, depth, middle, bottom, flow_middle, flow_bottom, eps, label, queue)
    count[:] = 0
    for v in range(depth * n):  # the middle nodes (source and sink are never lifted)
        count[label[v]] += 1
    pointer[:] = 0


@njit(cache=True, nogil=True)
def _layer_heights(n, depth, label, count, pointer):
    """Every middle node's height set to the number of layers between it and the sink (``depth − d``): always
    valid — each residual arc goes one layer down (height − 1) or up (height + 1) — and one pass over the
    nodes instead of a search of every arc. Used when the sink changes: the previous sink's heights no
    longer hold."""
    count[:] = 0
    for v in range(depth * n):
        label[v] = depth - v // n
        count[label[v]] += 1
    pointer[:] = 0


@njit(cache=True, nogil=True)
def _cut_capacity(n, depth, top, middle, bottom, label):
    """The capacity of the cut whose sink side is the nodes with a finite distance to the sink."""
    nodes = depth * n + 2
    cut = 0.0
    for m in range(n):
        if label[m] < nodes:
            cut += top[m]
    for d in range(depth):
        for k in range(n):
            if label[d * n + k] < nodes:
                continue
            if d == depth - 1:
                cut += bottom[k]
            else:
                for m in range(n):
                    if label[(d + 1) * n + m] < nodes:
                        cut += middle[d, k, m]
    return cut


@njit(cache=True, nogil=True)
def _source_row_flows(top, middle, bottoms, stop_at, wanted, eps, out_flow, out_cut, out_updates):
    """Step 3 for one source and every sink ``j`` with ``wanted[j]``: push–relabel, warm-started from sink to
    sink. Writes the flow reaching each sink, the cut it proves (-1 where it stopped at ``stop_at[j]``) and
    the running count of flow updates."""
    n = top.shape[0]
    depth = middle.shape[0] + 1
    nodes = depth * n + 2
    source, sink = depth * n, depth * n + 1
    last = (depth - 1) * n  # node of token 0 of the last middle layer
    flow_top, flow_bottom = np.zeros(n), np.zeros(n)
    flow_middle = np.zeros(middle.shape)
    excess = np.zeros(nodes)
    label = np.empty(nodes, np.int64)
    pointer = np.zeros(nodes, np.int64)
    queue = np.empty(nodes, np.int64)
    active = np.empty(nodes, np.int64)  # a ring of the nodes with excess still to move (FIFO)
    count = np.zeros(nodes + 1, np.int64)  # nodes per height, for the gap rule
    waiting = np.zeros(nodes, np.bool_)
    updates = 0
    first_sink = True
    for j in range(n):
        if not wanted[j]:
            continue
        bottom = bottoms[j]
        excess[sink] = 0.0
        for k in range(n):  # what reached the previous sink stays where this sink's arc has room for it;
            kept = min(flow_bottom[k], bottom[k])  # the rest goes back to wait in the last middle layer
            excess[last + k] += flow_bottom[k] - kept
            flow_bottom[k] = kept
            excess[sink] += kept
        for m in range(n):  # fill every arc out of the source again
            if top[m] > flow_top[m]:
                excess[m] += top[m] - flow_top[m]
                flow_top[m] = top[m]
                updates += 1
        if first_sink:
            _global_relabel(n, depth, middle, bottom, flow_middle, flow_bottom, eps, label, queue, count, pointer)
            first_sink = False
        else:
            _layer_heights(n, depth, label, count, pointer)
        waiting[:] = False
        head, tail = 0, 0
        for v in range(source):
            if excess[v] > eps and label[v] < nodes:
                active[tail % nodes] = v
                tail += 1
                waiting[v] = True
        relabels = 0
        stopped = excess[sink] >= stop_at[j]
        while head != tail and not stopped:
            u = active[head % nodes]
            head += 1
            waiting[u] = False
            d, k = u // n, u % n
            while excess[u] > eps and label[u] < nodes and not stopped:
                # push along admissible arcs (room left, one step nearer the sink)
                a, end = pointer[u], _arc_end(d, n)
                while a < end and excess[u] > eps:
                    w = _arc_head(d, a, n, depth)
                    if label[u] == label[w] + 1:
                        room = _room(d, k, a, n, depth, middle, bottom, flow_middle, flow_bottom)
                        if room > eps:
                            amount = min(excess[u], room)
                            if a >= n:
                                flow_middle[d - 1, a - n, k] -= amount
                            elif d == depth - 1:
                                flow_bottom[k] += amount
                            else:
                                flow_middle[d, k, a] += amount
                            updates += 1
                            excess[u] -= amount
                            excess[w] += amount
                            if w == sink:
                                if excess[sink] >= stop_at[j]:
                                    stopped = True
                                    break
                            elif not waiting[w]:
                                active[tail % nodes] = w
                                tail += 1
                                waiting[w] = True
                            if excess[u] <= eps:
                                break
                    a = _next_arc(d, a, n, depth)
                pointer[u] = a
                if excess[u] <= eps or stopped:
                    break
                # relabel: one above the lowest neighbour that still has room; the search resumes at that arc
                lowest, first, b = nodes, 0, 0
                while b < end:  # the same arcs as the push loop, all of them
                    w = _arc_head(d, b, n, depth)
                    if label[w] + 1 < lowest and _room(d, k, b, n, depth, middle, bottom, flow_middle,
                                                      flow_bottom) > eps:
                        lowest, first = label[w] + 1, b
                    b = _next_arc(d, b, n, depth)
                old = label[u]
                count[old] -= 1
                label[u] = lowest
                count[lowest] += 1
                pointer[u] = first
                if count[old] == 0:  # a gap: nothing above this height can reach the sink any more
                    for v in range(source):
                        if old < label[v] < nodes:
                            count[label[v]] -= 1
                            label[v] = nodes
                            count[nodes] += 1
                relabels += 1
                if relabels > nodes:  # now and then, exact distances again
                    relabels = 0
                    _global_relabel(n, depth, middle, bottom, flow_middle, flow_bottom, eps, label, queue, count,
                                    pointer)
        out_flow[j] = excess[sink]
        out_updates[j] = updates
        if stopped:
            out_cut[j] = -1.0
        else:  # no excess can reach the sink: the nodes that still do form the sink side of a minimum cut
            _distances_to_sink(n, depth, middle, bottom, flow_middle, flow_bottom, eps, label, queue)
            out_cut[j] = _cut_capacity(n, depth, top, middle, bottom, label)


@njit(cache=True, nogil=True)
def _solve_rows(top_rows, middle, bottoms, upper, tolerance, eps, wanted):
    """Every pair ``(r, j)`` with ``wanted[r, j]``: ``(value, lower bound, how)``, arrays ``(R, n)``.

    ``top_rows`` ``(R, n)``: the sources' rows of ``Â_L``; ``bottoms`` ``(n, n)``: row ``j`` = column ``j`` of
    ``Â_1``; ``upper`` ``(R, n)``: the structured cut bounds. ``how`` is 1 where the flow met the bound
    (certified), 2 where the search ran to the end and proved its own cut.
    """
    n_rows, n = top_rows.shape
    value = np.zeros((n_rows, n))
    lower = np.zeros((n_rows, n))
    how = np.zeros((n_rows, n), np.int8)
    flow, cut, updates = np.zeros(n), np.zeros(n), np.zeros(n, np.int64)
    for r in range(n_rows):
        if not wanted[r].any():
            continue  # another worker's row (or no pair of it left to solve again)
        _source_row_flows(top_rows[r], middle, bottoms, upper[r] - tolerance, wanted[r], eps, flow, cut, updates)
        for j in range(n):
            if not wanted[r, j]:
                continue
            # each update rounds a flow (and an excess) by at most 2**-53: what a feasible flow surely carries
            lower[r, j] = flow[j] - 2.0 * updates[j] * ROUNDING
            if cut[j] < 0:
                value[r, j], how[r, j] = upper[r, j], 1
            else:
                value[r, j], how[r, j] = min(cut[j], upper[r, j]), 2
    return value, lower, how


def all_pairs_max_flow(capacities, tolerance: float = 1e-7, workers: int = 1, rows=None) -> tuple[np.ndarray, FlowInfo]:
    """Max-flow ``F[i, j]`` from token ``i`` at the top to token ``j`` at the input, for every pair, ``(n, n)``
    (or ``(len(rows), n)`` for the top positions ``rows``).

    ``capacities``: ``(L, n, n)``, first layer first, rows summing to 1, ``L ≥ 2``. Returns the flow and a
    :class:`FlowInfo` with the accuracy proved (steps 1–4 of the module docstring).
    """
    caps = check_attention(capacities, "LQK", name="capacities", square=True)
    tolerance = check_tolerance(tolerance)
    n_layers, n = caps.shape[:2]
    if n_layers < 2:
        raise ValueError(f"capacities: got {n_layers} layer; the solver needs at least 2 (one layer: F = Â)")
    wanted = np.arange(n) if rows is None else check_rows(rows, n)  # (R,)
    upper = _upper_bounds(caps, wanted)  # (R, n): the cut bounds of the wanted rows
    value, lower, how = _solve(caps, wanted, upper, tolerance, EPS, workers=workers)
    loose = value - lower > tolerance  # (R, n): cut and flow further apart than the tolerance
    if loose.any():  # step 4's second try, with a finer threshold for a full arc
        again = _solve(caps, wanted, upper, tolerance, FINE_EPS, loose)
        value[loose], lower[loose], how[loose] = again[0][loose], again[1][loose], again[2][loose]
    info = FlowInfo(pairs=value.size, certified=int((how == 1).sum()), solved=int((how == 2).sum()))
    info.error_bound = float(max((value - lower).max(), 0.0))
    return value, info


def _solve(caps: np.ndarray, wanted: np.ndarray, upper: np.ndarray, tolerance: float, eps: float,
           pairs: np.ndarray | None = None, workers: int = 1):
    """Steps 3–4 for the source rows ``wanted`` (all their pairs, or those marked in ``pairs``), on
    ``workers`` threads (:func:`_shares`)."""
    middle = np.ascontiguousarray(caps[-2:0:-1])  # (L − 2, n, n): Â_{L−1} … Â_2, top to bottom
    bottoms = np.ascontiguousarray(caps[0].T)  # (n, n): row j = the capacities into input token j
    top_rows = np.ascontiguousarray(caps[-1][wanted])  # (R, n): the sources' rows of Â_L
    pairs = np.ones(upper.shape, bool) if pairs is None else pairs
    shares = _shares(pairs, workers)
    if len(shares) == 1:
        return _solve_rows(top_rows, middle, bottoms, upper, tolerance, eps, pairs)
    parts = map_on_threads(lambda share: _solve_rows(top_rows, middle, bottoms, upper, tolerance, eps, share),
                           shares, threads=len(shares))  # the compiled loop runs without the GIL (nogil)
    out = (np.zeros(upper.shape), np.zeros(upper.shape), np.zeros(upper.shape, np.int8))
    for share, part in zip(shares, parts):
        for whole, piece in zip(out, part):
            whole[share] = piece[share]
    return out


def _shares(pairs: np.ndarray, workers: int) -> list[np.ndarray]:
    """The pairs ``(R, n)`` split between ``workers`` threads: whole source rows, interleaved, when there are
    rows enough; else (one row at 512 tokens) each row's sinks in contiguous blocks, so that every thread's
    warm start still goes from one sink to the next."""
    if workers <= 1 or pairs.sum() < 2 * workers:
        return [pairs]
    rows, sinks = np.indices(pairs.shape)  # (R, n) each
    if pairs.shape[0] >= workers:
        return [pairs & (rows % workers == k) for k in range(workers)]
    block = -(-pairs.shape[1] // workers)  # sinks per thread, rounded up
    return [pairs & (sinks // block == k) for k in range(workers)]


def warm_up() -> None:
    """Compile the solver now, on a tiny network. numba keeps the machine code beside this file
    (``__pycache__``), so later processes load it instead of compiling it again: ``make setup`` calls this
    once, and so do the course runner and the dashboard before their work."""
    _solve(np.full((3, 2, 2), 0.5), np.arange(1), np.ones((1, 2)), 1e-7, EPS)
