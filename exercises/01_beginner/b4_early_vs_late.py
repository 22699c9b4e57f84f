"""Exercise B4: compare attention in early and late layers.

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
    raise NotImplementedError("mean_attention_distance: your code here — see the docstring above")


def first_token_mass(attention: np.ndarray) -> np.ndarray:
    """The weight on key 0 (``[CLS]``/BOS), averaged over queries: ``(layers, heads, n, n) -> (layers, heads)``."""
    raise NotImplementedError("first_token_mass: your code here — see the docstring above")


def compare_early_late(attention: np.ndarray) -> dict:
    """Compare the first and the last layer, with every head of a layer averaged.

    Return a dict with:
        ``"distance"``: ``(layers,)`` the head-mean attention distance of each layer;
        ``"first_token"``: ``(layers,)`` the head-mean first-token mass of each layer;
        ``"farthest_layer"``: the index (int) of the layer with the largest head-mean distance;
        ``"late_minus_early_distance"``: last layer's distance minus first layer's (float).
    """
    raise NotImplementedError("compare_early_late: your code here — see the docstring above")
