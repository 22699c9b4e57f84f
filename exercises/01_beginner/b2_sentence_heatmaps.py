"""Exercise B2: attention heatmaps for different sentences.

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
    raise NotImplementedError("mask_padding: your code here — see the docstring above")


def crop_example(attention: np.ndarray, attention_mask: np.ndarray, tokens: list[list[str]], index: int):
    """One example's weights and tokens without its padding.

    Args:
        attention: ``(batch, heads, T, T)``; attention_mask: ``(batch, T)``; tokens: one list of ``T``
        token strings per example (padding tokens included); index: which example.
    Returns:
        ``(weights, real_tokens)``: ``(heads, n, n)`` for the ``n`` real tokens of the example, and their
        ``n`` token strings.
    """
    raise NotImplementedError("crop_example: your code here — see the docstring above")


def per_row_scale(matrix: np.ndarray) -> np.ndarray:
    """Divide every row of a ``(n, n)`` matrix by that row's maximum (rows that are all 0 stay 0).

    This is the *stated* alternative to min-max rescaling: each row's strongest key becomes 1, and the
    colour bar must say "fraction of the row's maximum".
    """
    raise NotImplementedError("per_row_scale: your code here — see the docstring above")


def plot_sentences(matrices: list[np.ndarray], token_lists: list[list[str]], titles: list[str]):
    """One heatmap per sentence, side by side, all on the fixed scale ``vmin=0, vmax=1``.

    ``matrices[k]`` is ``(n_k, n_k)`` and ``token_lists[k]`` its tokens. Draw panel ``k`` with ``imshow`` in
    the k-th axes (left to right), tick labels = tokens on both axes, title ``titles[k]``, colour map
    ``viridis``, and one colour bar. Return the Figure.
    """
    raise NotImplementedError("plot_sentences: your code here — see the docstring above")
