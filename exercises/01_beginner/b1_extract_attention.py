"""Exercise B1: extract and visualise attention from a pre-trained model.

Work through the functions in order; each docstring gives the shapes. Check your work with
``make check`` (or ``pytest tests/test_exercises.py --submission exercises -k b1``).

Background: ``01_beginner/attention_basics.py``.
"""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402


def extract_attention(model, tokenizer, text: str) -> np.ndarray:
    """Every attention weight of ``model`` for ``text``, as numpy ``(layers, heads, query, key)``.

    The model was loaded with ``attn_implementation="eager"``. Tokenize ``text`` (one sequence, no
    padding), run the model with ``output_attentions=True`` under ``torch.no_grad()``, and stack the
    per-layer tensors ``(batch=1, heads, query, key)`` into one array without the batch axis.
    """
    raise NotImplementedError("extract_attention: your code here — see the docstring above")


def attention_from_scores(queries: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Scaled dot-product attention weights ``softmax(Q Kᵀ / √d_k)`` for each head.

    Args:
        queries: ``(heads, query_len, d_k)``.
        keys: ``(heads, key_len, d_k)``.
    Returns:
        ``(heads, query_len, key_len)``; every row (last axis) sums to 1. Subtract each row's maximum
        before ``exp`` so large scores do not overflow.
    """
    raise NotImplementedError("attention_from_scores: your code here — see the docstring above")


def select_head(attention: np.ndarray, layer: int, head: int) -> np.ndarray:
    """The ``(query, key)`` matrix of one layer and head from ``(layers, heads, query, key)``.

    Negative indices count from the end, as in Python. Raise ``ValueError`` naming the argument when an
    index is out of range (``IndexError`` is not enough: say which index and how many there are).
    """
    raise NotImplementedError("select_head: your code here — see the docstring above")


def plot_heatmap(matrix: np.ndarray, tokens: list[str], title: str = "attention"):
    """A heatmap of one ``(query, key)`` matrix: returns the matplotlib Figure.

    Requirements the tests check: the image shows ``matrix`` itself (no rescaling — colour is
    probability, so use a fixed scale ``vmin=0, vmax=1``), x tick labels are the key tokens and y tick
    labels the query tokens (one tick per token), a colour bar, and a perceptually uniform colour map
    (``viridis``).
    """
    raise NotImplementedError("plot_heatmap: your code here — see the docstring above")
