"""Reference solution — Exercise I4: attention entropy across layers.

The entropy of an attention row ``p`` (a distribution over the keys) measures how spread out it is::

    H(p) = −Σ_j p_j · log p_j          in nats (natural log), with 0 · log 0 = 0

0 when the query attends to a single key, ``log n`` when it attends uniformly to ``n`` keys. Careful:
``np.log(0)`` is ``-inf`` and ``0 * -inf`` is ``nan`` — skip the zero entries instead.

Compute it per row, per head and per layer of the pre-trained encoder, for padded batches too (padding
keys carry no weight; padding *query* rows are not real tokens and must not enter any mean), and find
where in the network attention is most focused. Check your work with ``make check``.

Background: ``02_intermediate/attention_comparison.py`` (the ``attention_entropy`` function).
"""

import numpy as np


def row_entropy(weights: np.ndarray) -> np.ndarray:
    """Entropy in nats of every row: ``(..., query, key) -> (..., query)``, with ``0 · log 0 = 0`` (no NaN)."""
    # BEGIN SOLUTION
    safe = np.where(weights > 0, weights, 1.0)  # log(1) = 0 where the weight is 0
    return -np.sum(np.where(weights > 0, weights * np.log(safe), 0.0), axis=-1)
    # END SOLUTION


def head_entropy(attention: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Mean row entropy of every head of one sentence: ``(layers, heads, n, n) -> (layers, heads)``.

    ``mask`` is ``(n,)`` with 1 for real tokens and 0 for padding (``None``: all real). Average only over
    the real query rows; the padding columns already hold zero weight.
    """
    # BEGIN SOLUTION
    rows = row_entropy(attention)  # (L, H, n)
    if mask is None:
        return rows.mean(-1)
    real = np.asarray(mask).astype(bool)
    return rows[..., real].mean(-1)  # (L, H)
    # END SOLUTION


def entropy_fraction(attention: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Head entropy as a fraction of the maximum: ``(layers, heads)`` values in ``[0, 1]``.

    Divide by ``log(n_real)``, the entropy of uniform attention over the *real* tokens (not the padded
    length).
    """
    # BEGIN SOLUTION
    n_real = attention.shape[-1] if mask is None else int(np.asarray(mask).sum())
    return head_entropy(attention, mask) / np.log(n_real)
    # END SOLUTION


def layer_profile(attention: np.ndarray, mask: np.ndarray) -> dict:
    """Summarise entropy across the layers of one padded sentence.

    Args:
        attention: ``(layers, heads, n, n)``; mask: ``(n,)``.
    Returns a dict with:
        ``"layer_mean"``: ``(layers,)`` entropy fraction averaged over the heads of each layer;
        ``"layer_spread"``: ``(layers,)`` its population standard deviation over the heads, ``ddof=0``
        (NumPy's default ``np.std``; not the sample ``ddof=1``) — how specialised the heads are;
        ``"most_focused"``: ``[layer, head]`` (list of two ints) of the head with the lowest fraction;
        ``"most_diffuse_layer"``: the layer (int) with the highest mean fraction.
    """
    # BEGIN SOLUTION
    fraction = entropy_fraction(attention, mask)  # (L, H)
    layer, head = np.unravel_index(int(np.argmin(fraction)), fraction.shape)
    return {
        "layer_mean": fraction.mean(-1),
        "layer_spread": fraction.std(-1),
        "most_focused": [int(layer), int(head)],
        "most_diffuse_layer": int(np.argmax(fraction.mean(-1))),
    }
    # END SOLUTION
