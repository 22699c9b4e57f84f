"""Reference solution — Exercise B4: compare attention in early and late layers.

Two numbers per head summarise where it looks: how far away (mean attention distance) and how much it
parks on the first token. Compute them for every layer and head, then compare the first and last layers.

Background: ``01_beginner/attention_basics.py`` and ``02_intermediate/attention_comparison.py``.
"""

import numpy as np


def mean_attention_distance(attention: np.ndarray) -> np.ndarray:
    """Mean distance ``Σ_j A[i, j] · |i − j|``, averaged over the queries ``i``, per layer and head.

    Args:
        attention: ``(layers, heads, n, n)``.
    Returns:
        ``(layers, heads)`` distances in tokens.
    """
    # BEGIN SOLUTION
    n = attention.shape[-1]
    distance = np.abs(np.arange(n)[:, None] - np.arange(n)[None, :])  # (n, n)
    return (attention * distance).sum(-1).mean(-1)  # (L, H)
    # END SOLUTION


def first_token_mass(attention: np.ndarray) -> np.ndarray:
    """The weight on key 0 (``[CLS]``/BOS), averaged over queries: ``(layers, heads, n, n) -> (layers, heads)``."""
    # BEGIN SOLUTION
    return attention[..., 0].mean(-1)
    # END SOLUTION


def compare_early_late(attention: np.ndarray) -> dict:
    """Compare the first and the last layer, with every head of a layer averaged.

    Return a dict with:
        ``"distance"``: ``(layers,)`` the head-mean attention distance of each layer;
        ``"first_token"``: ``(layers,)`` the head-mean first-token mass of each layer;
        ``"farthest_layer"``: the index (int) of the layer with the largest head-mean distance;
        ``"late_minus_early_distance"``: last layer's distance minus first layer's (float).
    """
    # BEGIN SOLUTION
    distance = mean_attention_distance(attention).mean(-1)  # (L,)
    first = first_token_mass(attention).mean(-1)  # (L,)
    return {
        "distance": distance,
        "first_token": first,
        "farthest_layer": int(np.argmax(distance)),
        "late_minus_early_distance": float(distance[-1] - distance[0]),
    }
    # END SOLUTION
