"""Reference solution — Exercise I2: multi-head pattern analysis.

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
    # BEGIN SOLUTION
    p, q = np.broadcast_arrays(np.asarray(p, float), np.asarray(q, float))
    m = 0.5 * (p + q)

    def kl(x):
        ratio = np.divide(x, m, out=np.ones_like(x), where=x > 0)
        return np.sum(np.where(x > 0, x * np.log2(ratio), 0.0), axis=-1)

    return np.sqrt(np.clip(0.5 * kl(p) + 0.5 * kl(q), 0.0, 1.0))
    # END SOLUTION


def head_distance_matrix(layer: np.ndarray) -> np.ndarray:
    """``(heads, n, n) -> (heads, heads)``: the JS distance of two heads' rows, averaged over the queries.

    Symmetric, with zeros on the diagonal.
    """
    # BEGIN SOLUTION
    n_heads = layer.shape[0]
    out = np.zeros((n_heads, n_heads))
    for a in range(n_heads):
        for b in range(n_heads):
            out[a, b] = js_distance(layer[a], layer[b]).mean()
    return out
    # END SOLUTION


def redundant_pairs(distances: np.ndarray, threshold: float) -> list[list[int]]:
    """Pairs ``[i, j]`` with ``i < j`` whose distance is below ``threshold``, closest pair first.

    Each pair appears once; a head is never paired with itself.
    """
    # BEGIN SOLUTION
    n = distances.shape[0]
    pairs = [(distances[i, j], i, j) for i in range(n) for j in range(i + 1, n) if distances[i, j] < threshold]
    return [[i, j] for _, i, j in sorted(pairs)]
    # END SOLUTION


def head_behaviour(attention: np.ndarray) -> np.ndarray:
    """Where each head's weight goes: ``(layers, heads, n, n) -> (layers, heads, 4)``.

    The four numbers, each a mean over the queries ``i`` that have such a key:
    ``self`` = ``A[i, i]``; ``previous`` = ``A[i, i − 1]`` (queries 1…n−1); ``next`` = ``A[i, i + 1]``
    (queries 0…n−2); ``first`` = ``A[i, 0]`` (the weight every query puts on the first token).
    """
    # BEGIN SOLUTION
    self_mass = np.diagonal(attention, axis1=-2, axis2=-1).mean(-1)  # (L, H)
    previous = np.diagonal(attention, offset=-1, axis1=-2, axis2=-1).mean(-1)  # A[i, i-1]
    following = np.diagonal(attention, offset=1, axis1=-2, axis2=-1).mean(-1)  # A[i, i+1]
    first = attention[..., :, 0].mean(-1)  # column 0
    return np.stack([self_mass, previous, following, first], axis=-1)  # (L, H, 4)
    # END SOLUTION


def dominant_behaviour(profile: np.ndarray) -> list[list[str]]:
    """The name (from ``BEHAVIOURS``) of each head's largest behaviour: ``(layers, heads, 4)`` -> nested list."""
    # BEGIN SOLUTION
    return [[BEHAVIOURS[int(k)] for k in row] for row in np.argmax(profile, axis=-1)]
    # END SOLUTION


def plot_layer(layer: np.ndarray, tokens: list[str], title: str = "all heads"):
    """One heatmap per head of ``(heads, n, n)`` in a grid with ``4`` columns; returns the Figure.

    The tests read each panel's image (drawn with ``imshow``, in head order, row by row): it must be the
    head's matrix on a fixed ``vmin=0, vmax=1`` scale, titled ``"head h"``, with the tokens as tick labels
    on the panels of the first column (y) and the last row (x) — or on all panels.
    """
    # BEGIN SOLUTION
    n_heads, n, _ = layer.shape
    cols = 4
    rows = int(np.ceil(n_heads / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3 * cols, 3 * rows), squeeze=False)
    image = None
    for h in range(rows * cols):
        ax = axes[h // cols, h % cols]
        if h >= n_heads:
            ax.axis("off")
            continue
        image = ax.imshow(layer[h], vmin=0.0, vmax=1.0, cmap="viridis")
        ax.set_title(f"head {h}")
        ax.set_xticks(range(n))
        ax.set_xticklabels(tokens, rotation=90, fontsize=6)
        ax.set_yticks(range(n))
        ax.set_yticklabels(tokens, fontsize=6)
    fig.colorbar(image, ax=axes, label="attention weight")
    fig.suptitle(title)
    return fig
    # END SOLUTION
