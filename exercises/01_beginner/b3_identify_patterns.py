"""Exercise B3: identify the common attention patterns.

You will build the supports of three patterns, score a head against a pattern *corrected for chance*,
and label every head of a model.

Background: ``01_beginner/attention_patterns.py``. Check with ``make check``.
"""

import numpy as np

PATTERNS = ("diagonal", "previous_token", "bos")


def support_mask(name: str, n: int) -> np.ndarray:
    """The boolean ``(n, n)`` support of a pattern: ``True`` where query ``i`` should attend to key ``j``.

    - ``"diagonal"``: ``|i - j| <= 1`` (itself and its neighbours);
    - ``"previous_token"``: ``j == i - 1`` (row 0 has no previous token: all False);
    - ``"bos"``: ``j == 0``.
    Raise ``ValueError`` naming ``name`` for any other pattern.
    """
    raise NotImplementedError("support_mask: your code here — see the docstring above")


def pattern_score(attention: np.ndarray, support: np.ndarray) -> float:
    """How well one head ``(n, n)`` matches a pattern, corrected for chance.

    The pattern's ideal row ``P[i]`` spreads weight evenly over the row's support
    (``P[i, j] = support[i, j] / support[i].sum()``). For every row ``i`` whose support is not empty::

        overlap_i = Σ_j min(A[i, j], P[i, j])       (how much the two distributions share)
        chance_i  = Σ_j min(1/n, P[i, j])            (the overlap uniform attention would get)
        lift_i    = (overlap_i − chance_i) / (1 − chance_i)

    Return the mean of ``lift_i`` over those rows (1 = the head is the pattern, 0 = no better than
    uniform). Rows with an empty support are left out, not counted as 0.
    """
    raise NotImplementedError("pattern_score: your code here — see the docstring above")


def label_heads(attention: np.ndarray, threshold: float = 0.4) -> list[list[str]]:
    """Label each head of ``(layers, heads, n, n)`` attention with its best pattern of ``PATTERNS``.

    The best pattern is the one with the highest :func:`pattern_score`; if that score is below
    ``threshold`` the label is ``"mixed"``. Return a list (layers) of lists (heads) of labels.
    """
    raise NotImplementedError("label_heads: your code here — see the docstring above")
