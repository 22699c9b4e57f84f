"""Reference solution — Exercise I1: attention rollout from scratch.

Attention rollout (Abnar & Zuidema 2020) follows information from the input tokens up through every
layer. For attention ``(layers, heads, query, key)`` of one sentence:

1. fuse the heads of each layer into one matrix (mean, max or min over the heads);
2. optionally zero the weakest off-diagonal weights (``discard_ratio``);
3. add the residual connection, ``0.5·A + 0.5·I``, and renormalise every row to sum to 1;
4. multiply the layers, the *first layer rightmost*: ``R = Â_L · Â_{L-1} ⋯ Â_1``.

Write each step as its own function, then put them together in ``rollout``. Use NumPy only (the lesson's
``AttentionRollout`` is the answer key; do not import it). Check your work with ``make check`` (or
``pytest tests/test_exercises.py --submission exercises -k i1``).

Background: ``02_intermediate/attention_rollout.py`` — read its docstring.
"""

import numpy as np


def fuse_heads(attention: np.ndarray, head_fusion: str = "mean") -> np.ndarray:
    """Combine the heads of every layer: ``(layers, heads, query, key) -> (layers, query, key)``.

    ``head_fusion`` is ``"mean"``, ``"max"`` or ``"min"`` over the heads axis; anything else raises
    ``ValueError`` with ``head_fusion`` in the message.
    """
    # BEGIN SOLUTION
    reducers = {"mean": np.mean, "max": np.max, "min": np.min}
    if head_fusion not in reducers:
        raise ValueError(f"head_fusion: got {head_fusion!r}; expected mean, max or min")
    return reducers[head_fusion](attention, axis=1)  # (L, Q, K)
    # END SOLUTION


def discard_lowest(matrix: np.ndarray, ratio: float) -> np.ndarray:
    """Zero the weakest off-diagonal entries of one fused ``(n, n)`` matrix; return a new array.

    Of the ``n·(n − 1)`` off-diagonal entries, exactly ``floor(ratio · n·(n − 1))`` of the smallest become
    0. Ties are broken by position: among equal values the one that comes first in row-major order (row
    by row, left to right) is dropped first — a *stable* ascending sort, ``np.argsort(..., kind="stable")``.
    The diagonal is never dropped (a token always keeps its own weight). ``matrix`` itself is left
    unchanged (work on a copy); ``ratio = 0`` returns an unchanged copy.
    """
    # BEGIN SOLUTION
    out = np.array(matrix, dtype=float)
    n = out.shape[0]
    off_diagonal = ~np.eye(n, dtype=bool)
    k = int(np.floor(ratio * n * (n - 1)))
    if k > 0:
        values = out[off_diagonal]  # (n·(n−1),) row-major
        drop = np.argsort(values, kind="stable")[:k]
        values[drop] = 0.0
        out[off_diagonal] = values
    return out
    # END SOLUTION


def add_residual(fused: np.ndarray) -> np.ndarray:
    """The residual connection for every layer: ``(layers, n, n) -> (layers, n, n)``.

    ``0.5·A + 0.5·I``, then divide each *row* by its sum so that every row sums to 1 again (after max/min
    fusion or discarding, the rows of ``A`` no longer do).
    """
    # BEGIN SOLUTION
    n = fused.shape[-1]
    with_residual = 0.5 * fused + 0.5 * np.eye(n)  # (L, n, n)
    return with_residual / with_residual.sum(-1, keepdims=True)  # rows sum to 1
    # END SOLUTION


def rollout(attention: np.ndarray, head_fusion: str = "mean", discard_ratio: float = 0.0) -> np.ndarray:
    """Attention rollout of ``(layers, heads, n, n)`` -> ``(n, n)``.

    Fuse the heads, discard in every layer (``discard_lowest``), add the residual and renormalise, then
    multiply so that the first layer acts first: ``R = Â_L ⋯ Â_2 · Â_1``. Every row of ``R`` sums to 1.
    """
    # BEGIN SOLUTION
    fused = fuse_heads(attention, head_fusion)  # (L, n, n)
    fused = np.stack([discard_lowest(layer, discard_ratio) for layer in fused])
    layers = add_residual(fused)  # (L, n, n)
    result = layers[0]
    for layer in layers[1:]:
        result = layer @ result  # R_l = Â_l · R_{l−1}
    return result
    # END SOLUTION


def token_relevance(rollout_matrix: np.ndarray, position: int = 0) -> np.ndarray:
    """How much of each input token reaches ``position`` (0 = ``[CLS]``), *not counting the position itself*.

    Take row ``position`` of the rollout, set its own entry to 0 and renormalise the rest to sum to 1:
    ``(n, n) -> (n,)``. (A token's share of itself dominates every rollout row; removing it shows what
    the position gathered from the others.)
    """
    # BEGIN SOLUTION
    row = np.array(rollout_matrix[position], dtype=float)  # (n,)
    row[position] = 0.0
    return row / row.sum()
    # END SOLUTION
