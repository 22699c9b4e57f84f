"""Small, shared operations on attention arrays: fusing heads, masking padding, choosing a display scale.

Display scales — the honest ways to colour a softmax matrix
-----------------------------------------------------------
Each row of an attention matrix is a probability distribution. Two scales keep that meaning:

``"fixed"``  colour 0 … 1 for every matrix: a cell's colour *is* its probability, comparable across
             heads, layers and models. The default.
``"row"``    divide each row by its own maximum: shows where each query looks even when its weights are
             spread thin; the colour bar says "fraction of the row's maximum", not probability.

What the course does *not* do is the common min-max rescaling ``(A - A.min()) / (A.max() - A.min())``
of the whole matrix. It stretches every matrix to fill the colour map, so a head whose weights are all
near 1/n (no preference at all) looks as decisive as a head that puts 0.99 on one key, and two figures
with the same colours can hold very different numbers. ``display_scale(..., "minmax")`` exists only so the
beginner lesson can show that failure next to the honest scales.
"""

from __future__ import annotations

import numpy as np

from attnviz.validate import (
    HEAD_FUSIONS,
    check_attention,
    check_head_fusion,
    check_index,
    check_mask,
    to_numpy,
)

__all__ = ["HEAD_FUSIONS", "SCALES", "display_scale", "fuse_heads", "key_padding_mask", "mask_padding",
           "output_row", "row_normalize"]
SCALES = ("fixed", "row", "minmax")


def fuse_heads(attention, method: str = "mean", axis: int = -3, *, stochastic: bool = False,
               name: str = "attention") -> np.ndarray:
    """Combine the heads axis (default: the third from the end, as in ``(..., H, Q, K)``).

    ``mean`` keeps rows stochastic; ``max`` and ``min`` do not (the rollout lesson renormalises).
    The input must be finite and non-negative; with ``stochastic=True`` its rows must also sum to 1 (softmax
    attention). Gradient-weighted attention (``A ⊙ |∇A|``) is a non-negative input whose rows do not sum to 1.
    """
    check_head_fusion(method)
    arr = to_numpy(attention, name)
    if arr.ndim < 3:
        raise ValueError(f"{name}: got {arr.ndim} dimensions, shape {arr.shape}; expected at least 3 "
                         "(..., heads, query, key) — are the heads already fused?")
    check_attention(arr, "." * arr.ndim, name=name, stochastic=stochastic)
    return {"mean": np.mean, "max": np.max, "min": np.min}[method](arr, axis=axis)


def key_padding_mask(attention_mask) -> np.ndarray:
    """A tokenizer's ``attention_mask`` (1 = real token, 0 = padding) as a boolean array ``(B, K)``."""
    arr = to_numpy(attention_mask, "attention_mask")
    return check_mask(arr, arr.shape[-1], n_batch=arr.shape[0] if arr.ndim == 2 else None)


def mask_padding(attention, attention_mask) -> np.ndarray:
    """Zero the rows *and* columns of padding positions in ``(..., B, H, Q, K)`` attention.

    A model already gives padding keys (columns) zero weight, but padding *queries* (rows) still hold a
    distribution over the real keys — noise that a heatmap would show as if it meant something.
    ``attention_mask`` is ``(B, T)`` (or ``(T,)`` for one example) with 1 for real tokens.
    """
    arr = to_numpy(attention)
    if arr.ndim < 2:
        raise ValueError(f"attention: got {arr.ndim} dimensions, shape {arr.shape}; expected (..., query, key)")
    n_keys = arr.shape[-1]
    raw = to_numpy(attention_mask, "attention_mask")
    if raw.ndim == 2 and arr.ndim < 4:
        raise ValueError(f"attention_mask: a (batch, tokens) mask {raw.shape} needs (..., batch, heads, query, key) "
                         f"attention, got shape {arr.shape}; for one example pass its (tokens,) mask")
    n_batch = arr.shape[-4] if raw.ndim == 2 else None
    mask = check_mask(raw, n_keys, n_batch=n_batch)
    check_attention(arr, "." * arr.ndim, square=True)
    if mask.ndim == 1:
        keep = mask[:, None] & mask[None, :]  # (Q, K)
    else:
        keep = (mask[:, :, None] & mask[:, None, :])[:, None]  # (B, 1, Q, K), shared by the heads
    return arr * keep


def row_normalize(matrix, eps: float = 1e-12, *, name: str = "matrix") -> np.ndarray:
    """Rescale each row to sum to 1 (rows that are all zero stay zero).

    The input must be finite and non-negative (a weight matrix, e.g. attention after a crop or a fusion); a
    row of negative numbers has no meaning as a distribution, so it is refused rather than divided.
    """
    arr = check_attention(matrix, "." * max(np.ndim(matrix), 1), name=name, stochastic=False)
    sums = arr.sum(-1, keepdims=True)
    return np.where(sums > eps, arr / np.maximum(sums, eps), 0.0)


def display_scale(matrix, scale: str = "fixed") -> tuple[np.ndarray, float, float, str]:
    """Prepare a matrix for colouring; returns ``(values, vmin, vmax, colour-bar label)``.

    See the module docstring for why ``"fixed"`` is the default and ``"minmax"`` is a warning example.
    """
    arr = to_numpy(matrix)
    if scale == "fixed":
        return arr, 0.0, 1.0, "attention weight (probability, fixed 0–1 scale)"
    if scale == "row":
        row_max = arr.max(-1, keepdims=True)
        return np.divide(arr, row_max, out=np.zeros_like(arr), where=row_max > 0), 0.0, 1.0, (
            "fraction of the row's maximum (per-row scale)"
        )
    if scale == "minmax":
        lo, hi = float(arr.min()), float(arr.max())
        span = hi - lo if hi > lo else 1.0
        return (arr - lo) / span, 0.0, 1.0, "min-max rescaled (misleading: not a probability)"
    raise ValueError(f"scale: got {scale!r}; expected one of {', '.join(SCALES)}")


def output_row(matrix, row, *, attention_mask=None, name: str = "matrix") -> np.ndarray:
    """The row of a ``(..., Q, K)`` map that the model's output reads: what each key gives to the output.

    ``row`` says which output position the model's prediction is read from:

    - an integer: that query position (``0`` for ``[CLS]``, ``-1`` for a causal model's last token);
    - ``"mean"``: the mean over the real query rows (``attention_mask``, or all rows) — a mean-pooled sentence
      embedding such as all-MiniLM-L6-v2's;
    - a boolean or 0/1 array ``(Q,)``: the mean over the rows it marks.

    ``attention_mask`` (``(K,)``, 1 = real token) also zeroes the padding keys of the result. Returns ``(..., K)``.
    """
    arr = to_numpy(matrix, name)
    if arr.ndim < 2:
        raise ValueError(f"{name}: got {arr.ndim} dimensions, shape {arr.shape}; expected at least 2 (..., query, key)")
    n_q, n_k = arr.shape[-2:]
    keys = check_mask(attention_mask, n_k)  # (K,) boolean, or None
    if row is None:
        raise TypeError("row: got None; expected a query index, 'mean' or a boolean (query,) mask")
    if isinstance(row, str):
        if row != "mean":
            raise ValueError(f"row: got {row!r}; expected an index, 'mean' or a boolean (query,) mask")
        if keys is not None and n_q != n_k:
            raise ValueError(f"row: 'mean' with attention_mask needs self-attention (query == key), got shape {arr.shape}")
        rows = np.ones(n_q, dtype=bool) if keys is None else keys  # (Q,)
        picked = arr[..., rows, :].mean(-2)  # (..., K)
    elif isinstance(row, int | np.integer) and not isinstance(row, bool):
        picked = arr[..., check_index(row, n_q, name="row"), :]  # (..., K)
    else:
        rows = check_mask(row, n_q, name="row")  # (Q,) boolean, at least one row
        picked = arr[..., rows, :].mean(-2)  # (..., K)
    return picked if keys is None else picked * keys
