"""Reference solution — Exercise B2: attention heatmaps for different sentences.

Sentences of different lengths go through the model as one padded batch. You will mask the padding,
crop each sentence back to its real tokens, and draw the sentences side by side on one honest scale.

Background: ``01_beginner/self_attention_heatmap.py``. Check with ``make check``.
"""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def mask_padding(attention: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
    """Zero the rows and columns of padding positions.

    Args:
        attention: ``(batch, heads, T, T)`` weights of one layer for a padded batch.
        attention_mask: ``(batch, T)``, 1 for real tokens and 0 for padding.
    Returns:
        A new ``(batch, heads, T, T)`` array where entry ``[b, h, i, j]`` is kept only if both token ``i``
        and token ``j`` of example ``b`` are real, else 0. (Padding *queries* are the rows people forget.)
    """
    # BEGIN SOLUTION
    real = attention_mask.astype(bool)  # (B, T)
    keep = real[:, :, None] & real[:, None, :]  # (B, T, T)
    return attention * keep[:, None, :, :]  # broadcast over heads
    # END SOLUTION


def crop_example(attention: np.ndarray, attention_mask: np.ndarray, tokens: list[list[str]], index: int):
    """One example's weights and tokens without its padding.

    Args:
        attention: ``(batch, heads, T, T)``; attention_mask: ``(batch, T)``; tokens: one list of ``T``
        token strings per example (padding tokens included); index: which example.
    Returns:
        ``(weights, real_tokens)``: ``(heads, n, n)`` for the ``n`` real tokens of the example, and their
        ``n`` token strings.
    """
    # BEGIN SOLUTION
    real = np.flatnonzero(attention_mask[index])  # (n,)
    weights = attention[index][:, real[:, None], real[None, :]]  # (H, n, n)
    return weights, [tokens[index][i] for i in real]
    # END SOLUTION


def per_row_scale(matrix: np.ndarray) -> np.ndarray:
    """Divide every row of a ``(n, n)`` matrix by that row's maximum (rows that are all 0 stay 0).

    This is the *stated* alternative to min-max rescaling: each row's strongest key becomes 1, and the
    colour bar must say "fraction of the row's maximum".
    """
    # BEGIN SOLUTION
    row_max = matrix.max(axis=1, keepdims=True)
    return np.divide(matrix, row_max, out=np.zeros_like(matrix, dtype=float), where=row_max > 0)
    # END SOLUTION


def plot_sentences(matrices: list[np.ndarray], token_lists: list[list[str]], titles: list[str]):
    """One heatmap per sentence, side by side, all on the fixed scale ``vmin=0, vmax=1``.

    ``matrices[k]`` is ``(n_k, n_k)`` and ``token_lists[k]`` its tokens. Draw panel ``k`` with ``imshow`` in
    the k-th axes (left to right), tick labels = tokens on both axes, title ``titles[k]``, colour map
    ``viridis``, and one colour bar. Return the Figure.
    """
    # BEGIN SOLUTION
    fig, axes = plt.subplots(1, len(matrices), figsize=(5 * len(matrices), 4.5), squeeze=False)
    image = None
    for ax, matrix, toks, title in zip(axes[0], matrices, token_lists, titles):
        image = ax.imshow(matrix, cmap="viridis", vmin=0.0, vmax=1.0)
        ax.set_xticks(range(len(toks)))
        ax.set_xticklabels(toks, rotation=90)
        ax.set_yticks(range(len(toks)))
        ax.set_yticklabels(toks)
        ax.set_title(title)
    fig.colorbar(image, ax=axes[0].tolist(), label="attention weight")
    return fig
    # END SOLUTION
