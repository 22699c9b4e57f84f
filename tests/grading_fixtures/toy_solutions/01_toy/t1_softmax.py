"""Reference solution of a toy exercise (used only by the grader's tests): softmax and entropy."""

import numpy as np


def softmax(scores: np.ndarray) -> np.ndarray:
    """Row-wise softmax of a ``(Q, K)`` score matrix; every row of the result sums to 1."""
    # BEGIN SOLUTION
    shifted = scores - scores.max(axis=-1, keepdims=True)  # (Q, K), stable
    e = np.exp(shifted)
    return e / e.sum(axis=-1, keepdims=True)
    # END SOLUTION


def row_entropy(weights: np.ndarray) -> np.ndarray:
    """Entropy in nats of each row of a ``(Q, K)`` attention matrix: ``(Q,)``."""
    # BEGIN SOLUTION
    safe = np.where(weights > 0, weights, 1.0)  # 0 log 0 = 0
    return -(weights * np.log(safe)).sum(axis=-1)
    # END SOLUTION
