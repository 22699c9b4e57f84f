"""Exercise I1: attention rollout from scratch.

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
    raise NotImplementedError("fuse_heads: your code here — see the docstring above")


def discard_lowest(matrix: np.ndarray, ratio: float) -> np.ndarray:
    """Zero the weakest off-diagonal entries of one fused ``(n, n)`` matrix; return a new array.

    Of the ``n·(n − 1)`` off-diagonal entries, exactly ``floor(ratio · n·(n − 1))`` of the smallest become
    0. Ties are broken by position: among equal values the one that comes first in row-major order (row
    by row, left to right) is dropped first — a *stable* ascending sort, ``np.argsort(..., kind="stable")``.
    The diagonal is never dropped (a token always keeps its own weight). ``matrix`` itself is left
    unchanged (work on a copy); ``ratio = 0`` returns an unchanged copy.
    """
    raise NotImplementedError("discard_lowest: your code here — see the docstring above")


def add_residual(fused: np.ndarray) -> np.ndarray:
    """The residual connection for every layer: ``(layers, n, n) -> (layers, n, n)``.

    ``0.5·A + 0.5·I``, then divide each *row* by its sum so that every row sums to 1 again (after max/min
    fusion or discarding, the rows of ``A`` no longer do).
    """
    raise NotImplementedError("add_residual: your code here — see the docstring above")


def rollout(attention: np.ndarray, head_fusion: str = "mean", discard_ratio: float = 0.0) -> np.ndarray:
    """Attention rollout of ``(layers, heads, n, n)`` -> ``(n, n)``.

    Fuse the heads, discard in every layer (``discard_lowest``), add the residual and renormalise, then
    multiply so that the first layer acts first: ``R = Â_L ⋯ Â_2 · Â_1``. Every row of ``R`` sums to 1.
    """
    raise NotImplementedError("rollout: your code here — see the docstring above")


def token_relevance(rollout_matrix: np.ndarray, position: int = 0) -> np.ndarray:
    """How much of each input token reaches ``position`` (0 = ``[CLS]``), *not counting the position itself*.

    Take row ``position`` of the rollout, set its own entry to 0 and renormalise the rest to sum to 1:
    ``(n, n) -> (n,)``. (A token's share of itself dominates every rollout row; removing it shows what
    the position gathered from the others.)
    """
    raise NotImplementedError("token_relevance: your code here — see the docstring above")
