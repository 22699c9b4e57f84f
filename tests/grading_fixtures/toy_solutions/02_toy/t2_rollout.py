"""Reference solution of a toy exercise (used only by the grader's tests): rollout and top token."""

import numpy as np


def rollout(layers: np.ndarray) -> np.ndarray:
    """Attention rollout of ``(L, N, N)`` matrices: the product of ``0.5 A + 0.5 I`` (rows renormalised),
    last layer on the left: ``(N, N)``."""
    # BEGIN SOLUTION
    n = layers.shape[-1]
    result = np.eye(n)
    for a in layers:  # (N, N), first layer first
        a = 0.5 * a + 0.5 * np.eye(n)
        a = a / a.sum(axis=-1, keepdims=True)
        result = a @ result
    return result
    # END SOLUTION


def top_token(tokens: list[str], weights: np.ndarray) -> str:
    """The token that receives the most attention in total (sum over the rows of a ``(N, N)`` matrix)."""
    # BEGIN SOLUTION
    return tokens[int(np.argmax(weights.sum(axis=0)))]
    # END SOLUTION
