"""Exercise I2: multi-head pattern analysis.

Every layer of the pre-trained encoder has 12 heads. Do they all do something different? Analyse them:

1. draw all heads of a layer in one grid;
2. describe each head by where its weight goes (itself, the previous token, the next token, the first
   token) and name its dominant behaviour;
3. measure how similar two heads are with the Jensen–Shannon distance between their rows, and list the
   pairs of heads that are nearly redundant.

Jensen–Shannon, for two distributions ``p`` and ``q`` over the same keys, in base 2::

    m = (p + q) / 2
    JSD(p, q) = ½ Σ p log₂(p / m) + ½ Σ q log₂(q / m)        (terms with p = 0 or q = 0 count 0)
    distance  = √JSD(p, q)                                     (between 0 and 1)

Check your work with ``make check``. Background: ``02_intermediate/multihead_visualization.py``.
"""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402, F401 (used in the solution blocks)
import numpy as np  # noqa: E402

BEHAVIOURS = ("self", "previous", "next", "first")


def js_distance(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Jensen–Shannon distance (base 2) between distributions along the last axis; broadcasts.

    ``p`` and ``q``: ``(..., n)`` rows summing to 1 -> ``(...)``. Zero weights must not produce NaN.
    """
    raise NotImplementedError("js_distance: your code here — see the docstring above")


def head_distance_matrix(layer: np.ndarray) -> np.ndarray:
    """``(heads, n, n) -> (heads, heads)``: the JS distance of two heads' rows, averaged over the queries.

    Symmetric, with zeros on the diagonal.
    """
    raise NotImplementedError("head_distance_matrix: your code here — see the docstring above")


def redundant_pairs(distances: np.ndarray, threshold: float) -> list[list[int]]:
    """Pairs ``[i, j]`` with ``i < j`` whose distance is below ``threshold``, closest pair first.

    Each pair appears once; a head is never paired with itself.
    """
    raise NotImplementedError("redundant_pairs: your code here — see the docstring above")


def head_behaviour(attention: np.ndarray) -> np.ndarray:
    """Where each head's weight goes: ``(layers, heads, n, n) -> (layers, heads, 4)``.

    The four numbers, each a mean over the queries ``i`` that have such a key:
    ``self`` = ``A[i, i]``; ``previous`` = ``A[i, i − 1]`` (queries 1…n−1); ``next`` = ``A[i, i + 1]``
    (queries 0…n−2); ``first`` = ``A[i, 0]`` (the weight every query puts on the first token).
    """
    raise NotImplementedError("head_behaviour: your code here — see the docstring above")


def dominant_behaviour(profile: np.ndarray) -> list[list[str]]:
    """The name (from ``BEHAVIOURS``) of each head's largest behaviour: ``(layers, heads, 4)`` -> nested list."""
    raise NotImplementedError("dominant_behaviour: your code here — see the docstring above")


def plot_layer(layer: np.ndarray, tokens: list[str], title: str = "all heads"):
    """One heatmap per head of ``(heads, n, n)`` in a grid with ``4`` columns; returns the Figure.

    The tests read each panel's image (drawn with ``imshow``, in head order, row by row): it must be the
    head's matrix on a fixed ``vmin=0, vmax=1`` scale, titled ``"head h"``, with the tokens as tick labels
    on the panels of the first column (y) and the last row (x) — or on all panels.
    """
    raise NotImplementedError("plot_layer: your code here — see the docstring above")
