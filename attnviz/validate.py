"""The canonical attention layout and the one validator every function calls on its input.

Every library hands attention back in its own layout:

- ``transformers``: a tuple over layers of ``(batch, heads, query, key)`` tensors;
- ``torch.nn.MultiheadAttention``: ``(batch, heads, target, source)`` — or ``(batch, target, source)``
  when the heads were silently averaged (``average_attn_weights=True``, the default);
- Keras ``MultiHeadAttention(return_attention_scores=True)``: ``(batch, heads, target, source)``.

The course stores all of them in one canonical layout, named once here::

    (L, B, H, Q, K) = (layers, batch, heads, query, key)

A row ``A[l, b, h, q, :]`` is the softmax distribution of query ``q`` over the keys, so it sums to 1.
``layout`` strings below spell a subset of those letters, e.g. ``"HQK"`` for one layer of one example.

Bad input fails here, early, with a message that names the argument, what it got and what was
expected (specification §7) — not three calls later as a matplotlib error about an empty image.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

CANONICAL = "LBHQK"
AXIS_NAMES = {"L": "layers", "B": "batch", "H": "heads", "Q": "query", "K": "key", ".": "…"}  # "." = any axis
HEAD_FUSIONS = ("mean", "max", "min")


def to_numpy(x, name: str = "attention") -> np.ndarray:
    """Convert a torch tensor, numpy array or nested list to a float64 numpy array.

    Raises ``TypeError`` for anything that is not array-like (a string, a dict, None).
    """
    if x is None or isinstance(x, str | bytes | dict):
        raise TypeError(f"{name}: expected an array or tensor, got {type(x).__name__}")
    if hasattr(x, "detach"):  # a torch tensor: leave the autograd graph and the GPU
        x = x.detach().to("cpu").float().numpy()
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise TypeError(f"{name}: expected a numeric array, could not convert {type(x).__name__} ({err})") from None
    return arr


def describe_layout(layout: str) -> str:
    """``"HQK"`` -> ``"(heads, query, key)"``."""
    return "(" + ", ".join(AXIS_NAMES[c] for c in layout) + ")"


def check_attention(
    attention,
    layout: str = "QK",
    *,
    name: str = "attention",
    stochastic: bool = True,
    square: bool = False,
    atol: float = 1e-3,
    key_mask=None,
) -> np.ndarray:
    """Validate an attention array and return it as float64 numpy.

    Args:
        attention: array-like in ``layout``.
        layout: letters of ``"LBHQK"`` naming each axis, in order (``"QK"``, ``"HQK"``, ``"LHQK"``, ...);
            ``"."`` is an axis of any meaning (``"." * arr.ndim`` accepts any number of leading axes).
            Several layouts may be accepted, separated by ``|``: ``"QK|HQK"`` accepts either.
        name: the argument's name, used in every error message.
        stochastic: require every row (last axis) to sum to 1 — true of softmax attention.
            Rows that are all zero are allowed (they are masked padding queries).
        square: require ``query == key`` (self-attention).
        key_mask: optional boolean/0-1 array of shape ``(K,)`` or ``(B, K)``; keys where it is 0 must
            carry no weight, and rows are checked to sum to 1 over the kept keys only.

    Raises:
        TypeError: not an array.
        ValueError: empty, wrong number of dimensions, NaN/Inf, negative weights, rows not summing to 1,
            or a non-square matrix where self-attention was required.
    """
    arr = to_numpy(attention, name)
    layouts = layout.split("|")
    if arr.size == 0:
        raise ValueError(f"{name}: got an empty array of shape {arr.shape}; expected {_expected(layouts)}")
    matching = [lay for lay in layouts if len(lay) == arr.ndim]
    if not matching:
        raise ValueError(
            f"{name}: got {arr.ndim} dimensions, shape {arr.shape}; expected {_expected(layouts)}"
        )
    # Two cheap passes (min and max, no temporary arrays) decide the common case: a NaN makes both NaN,
    # an Inf shows in one of them. Only bad input pays for counting.
    lowest, highest = arr.min(), arr.max()
    if not (np.isfinite(lowest) and np.isfinite(highest)):
        bad = int(np.size(arr) - np.isfinite(arr).sum())
        raise ValueError(f"{name}: contains {bad} NaN or Inf values (shape {arr.shape}); attention must be finite")
    if lowest < -1e-6:
        raise ValueError(
            f"{name}: contains negative weights (min {arr.min():.4g}); attention probabilities are >= 0 "
            "(did you pass pre-softmax scores instead of probabilities?)"
        )
    if square and arr.shape[-1] != arr.shape[-2]:
        raise ValueError(
            f"{name}: self-attention must be square (query == key), got shape {arr.shape} "
            f"with {arr.shape[-2]} queries and {arr.shape[-1]} keys"
        )
    if stochastic:
        sums = arr.sum(-1)
        if key_mask is not None:
            has_batch = "B" in matching[0] and arr.ndim >= 3
            n_batch = arr.shape[matching[0].index("B")] if has_batch else None
            mask = check_mask(key_mask, arr.shape[-1], n_batch=n_batch, name="key_mask")
            if mask.ndim == 2:  # (B, K) -> broadcastable to (..., B, [H,] Q, K): one mask per example
                mask = mask.reshape(mask.shape[:1] + (1,) * (len(matching[0]) - matching[0].index("B") - 2)
                                    + mask.shape[1:])
            hidden = ~mask  # broadcastable to arr: the padding keys
            if arr.shape[-1] == arr.shape[-2]:
                # Self-attention: the mask also marks the padding *queries*, whose rows hold whatever the model
                # left there (zeros for most families, uniform over every key for DeBERTa-v2). Only the real
                # queries must give the padding keys nothing.
                real_queries = mask[:, None] if mask.ndim == 1 else np.swapaxes(mask, -1, -2)  # (..., Q, 1)
                hidden = hidden & real_queries
            leaked = np.abs(arr * hidden).max()
            if leaked > atol:
                raise ValueError(f"{name}: puts weight {leaked:.3g} on masked (padding) keys; expected 0")
        ok = (np.abs(sums - 1.0) <= atol + 1e-5) | (np.abs(sums) <= atol)  # as np.isclose: 1, or all zero
        if not ok.all():
            worst = sums.flat[np.argmax(np.abs(sums - 1.0).ravel())]
            if sums.max() <= 1.0 + atol:  # every row short of 1: weight went to keys that are no longer there
                cause = ("Every row sums to at most 1, as after a crop that drops keys (e.g. [CLS]/[SEP] with "
                         "[1:-1, 1:-1]): renormalise the rows with attnviz.normalize.row_normalize, and say so "
                         "in the figure")
            else:
                cause = f"Was it rescaled (min-max?), or is the layout {describe_layout(matching[0])} transposed?"
            raise ValueError(
                f"{name}: rows must sum to 1 (softmax over the keys, the last axis), but a row sums to "
                f"{worst:.4g}. {cause}"
            )
    return arr


def _expected(layouts: Sequence[str]) -> str:
    return " or ".join(f"{len(lay)} dimensions {describe_layout(lay)}" for lay in layouts)


def check_tokens(tokens, length: int, *, name: str = "tokens", axis: str = "sequence") -> list[str]:
    """Tokens must be a list of strings, one per position along ``axis``."""
    if tokens is None:
        raise TypeError(f"{name}: expected a list of {length} strings, got None")
    if isinstance(tokens, str):
        raise TypeError(f"{name}: expected a list of strings, got one string {tokens[:30]!r}; split it into tokens")
    tokens = [str(t) for t in tokens]
    if len(tokens) != length:
        hint = ""
        if length - len(tokens) in (1, 2):
            hint = (" — the tokenizer adds special tokens ([CLS] and [SEP] for BERT-like models, <s> </s> for "
                    "others) and may split words into pieces: take the tokens from the model (AttentionModel."
                    "tokens(), or tokenizer.convert_ids_to_tokens(input_ids)) rather than text.split()")
        elif len(tokens) < length:
            hint = (" — are these words rather than the model's tokens? Word pieces and special tokens make the "
                    "model's sequence longer: use tokenizer.convert_ids_to_tokens(input_ids)")
        raise ValueError(
            f"{name}: got {len(tokens)} tokens but the attention has {length} positions along the {axis} axis{hint}"
        )
    return tokens


def check_index(index: int, size: int, *, name: str) -> int:
    """A layer/head/batch index, negative counting from the end as in Python; returns it non-negative."""
    if isinstance(index, bool) or not isinstance(index, int | np.integer):
        raise TypeError(f"{name}: expected an integer index, got {type(index).__name__}")
    if not -size <= index < size:
        raise ValueError(f"{name}: index {index} is out of range; there are {size} (valid: 0..{size - 1} or -{size}..-1)")
    return int(index) % size


def check_cross_attention(attention, source_len: int, target_len: int, *, name: str = "cross_attention") -> np.ndarray:
    """Cross-attention is ``(..., target, source)``; catch the transposed ``(source, target)`` mistake."""
    arr = to_numpy(attention, name)
    if arr.ndim < 2:
        raise ValueError(f"{name}: expected at least 2 dimensions (..., target, source), got shape {arr.shape}")
    q, k = arr.shape[-2:]
    if (q, k) == (source_len, target_len) and source_len != target_len:
        raise ValueError(
            f"{name}: shape {arr.shape} ends in (source={source_len}, target={target_len}); cross-attention rows are "
            f"target (query) positions, so expected (..., {target_len}, {source_len}) — transpose the last two axes"
        )
    if (q, k) != (target_len, source_len):
        raise ValueError(
            f"{name}: shape {arr.shape} does not end in (target={target_len}, source={source_len})"
        )
    if arr.ndim > len(CANONICAL):
        raise ValueError(f"{name}: got {arr.ndim} dimensions, shape {arr.shape}; expected at most 5 {describe_layout(CANONICAL)}")
    return check_attention(arr, CANONICAL[-arr.ndim:], name=name)


def to_canonical(attention, layout: str, *, name: str = "attention") -> np.ndarray:
    """Insert the missing axes so ``attention`` has the full ``(L, B, H, Q, K)`` layout.

    ``layout`` names the axes the array has, in canonical order (a subset of ``"LBHQK"`` that ends in
    ``"QK"``). Missing axes get size 1. The array is validated first.
    """
    arr = check_attention(attention, layout, name=name)
    if "".join(c for c in CANONICAL if c in layout) != layout:
        raise ValueError(f"layout: {layout!r} must list its axes in the canonical order {CANONICAL!r}")
    for position, axis in enumerate(CANONICAL):
        if axis not in layout:
            arr = np.expand_dims(arr, position)
    return arr  # (L, B, H, Q, K)


def check_mask(attention_mask, n_keys: int, *, n_batch: int | None = None,
               name: str = "attention_mask") -> np.ndarray | None:
    """Validate a tokenizer-style padding mask (1 = real token, 0 = padding) and return it as booleans.

    Without ``n_batch`` the mask must be ``(K,)`` and ``(K,)`` comes back. With ``n_batch`` it may be
    ``(K,)`` (one mask for every example) or ``(B, K)``, and ``(B, K)`` comes back. ``None`` passes
    through as ``None``. Every example needs at least one real token.

    Raises:
        TypeError: not array-like.
        ValueError: wrong shape, a value other than 0/1, or an example with no real token.
    """
    if attention_mask is None:
        return None
    mask = to_numpy(attention_mask, name)
    expected = f"({n_keys},)" if n_batch is None else f"({n_keys},) or ({n_batch}, {n_keys})"
    if n_batch is not None and mask.ndim == 1 and mask.shape == (n_keys,):
        mask = np.broadcast_to(mask, (n_batch, n_keys))  # (B, K): the same mask for every example
    if mask.shape != ((n_keys,) if n_batch is None else (n_batch, n_keys)):
        raise ValueError(f"{name}: got shape {tuple(to_numpy(attention_mask, name).shape)}; expected {expected} "
                         "with 1 for real tokens and 0 for padding")
    if not np.isin(mask, (0, 1)).all():
        bad = mask[~np.isin(mask, (0, 1))].flat[0]
        raise ValueError(f"{name}: got the value {bad:g}; expected only 0 (padding) and 1 (real token) values")
    mask = mask.astype(bool)
    if mask.ndim == 1 and not mask.any():
        raise ValueError(f"{name}: has no real token (all zeros); expected at least one 1")
    if mask.ndim == 2 and not mask.any(-1).all():
        raise ValueError(f"{name}: example {int(np.argmin(mask.any(-1)))} has no real token (all zeros); "
                         "expected at least one 1 per example")
    return mask


def check_head_fusion(head_fusion, *, name: str = "head_fusion") -> str:
    """One of :data:`HEAD_FUSIONS` (``"mean"``, ``"max"``, ``"min"``), or a ``ValueError`` naming the options."""
    if not isinstance(head_fusion, str) or head_fusion not in HEAD_FUSIONS:
        raise ValueError(f"{name}: got {head_fusion!r}; expected one of {', '.join(HEAD_FUSIONS)}")
    return head_fusion


def as_layers(attention_layers, layout: str = "LHQK|LBHQK", *, name: str = "attention_layers",
              stochastic: bool = True, square: bool = True, dtype=np.float64,
              validate: bool = True) -> tuple[np.ndarray, str]:
    """Layers given as a list, tuple or array -> one validated canonical ``(L, B, H, Q, K)`` array.

    Args:
        attention_layers: a list/tuple with one array or tensor per layer (what ``transformers`` returns
            in ``outputs.attentions``), or one array whose first axis is the layers.
        layout: the accepted layouts of the whole stack, ``|``-separated, each starting with ``L``
            (``"LHQK|LBHQK"``: one example or a batch; ``"LQK|LBQK"``: heads already fused).
            Each element of a list has the same layout without the ``L``.
        stochastic, square: as in :func:`check_attention`.
        dtype: the floating dtype of the result; ``None`` keeps a floating input's own dtype (float32
            stays float32 — half the memory and time of float64 on large inputs).
        validate: ``False`` checks only shapes and types, for callers that validate a smaller
            derived array themselves (e.g. the fused heads of rollout).

    Returns:
        ``(array, matched)``: the array with every axis of ``"LBHQK"`` (missing ones inserted with size 1)
        and the layout it matched, e.g. ``"LHQK"`` — so the caller knows which axes to drop again.

    Raises:
        ValueError: an empty list, layers of different shapes, the wrong number of dimensions (with the
            hint to wrap a single layer in a list), or anything :func:`check_attention` rejects.
        TypeError: not array-like.
    """
    layouts = layout.split("|")
    if any(not lay.startswith("L") for lay in layouts):
        raise ValueError(f"layout: every layout must start with the layers axis 'L', got {layout!r}")
    if isinstance(attention_layers, list | tuple):
        if len(attention_layers) == 0:
            per_layer = _expected([lay[1:] for lay in layouts])
            raise ValueError(f"{name}: got an empty list; expected one array per layer, each {per_layer}")
        layers = [_as_array(a, f"{name}[{i}]", dtype) for i, a in enumerate(attention_layers)]
        for i, a in enumerate(layers):
            if a.shape != layers[0].shape:
                raise ValueError(f"{name}[{i}]: shape {a.shape} differs from layer 0's {layers[0].shape}; "
                                 "every layer must have the same heads and sequence length")
        if not any(len(lay) - 1 == layers[0].ndim for lay in layouts):
            raise ValueError(f"{name}: each layer has shape {layers[0].shape}; expected "
                             f"{_expected([lay[1:] for lay in layouts])}")
        arr = np.stack(layers)  # (L, ...): the layers axis first
    else:
        arr = _as_array(attention_layers, name, dtype)
        if not any(len(lay) == arr.ndim for lay in layouts):
            hint = " (one layer? wrap it in a list: [weights])" if any(len(lay) - 1 == arr.ndim
                                                                       for lay in layouts) else ""
            raise ValueError(f"{name}: got {arr.ndim} dimensions, shape {arr.shape}; "
                             f"expected {_expected(layouts)}{hint}")
    matched = next(lay for lay in layouts if len(lay) == arr.ndim)
    if validate:
        check_attention(arr, matched, name=name, stochastic=stochastic, square=square)
    elif arr.size == 0:
        raise ValueError(f"{name}: got an empty array of shape {arr.shape}; expected {_expected(layouts)}")
    elif square and arr.shape[-1] != arr.shape[-2]:
        raise ValueError(f"{name}: self-attention must be square (query == key), got shape {arr.shape}")
    for position, axis in enumerate(CANONICAL):
        if axis not in matched:
            arr = np.expand_dims(arr, position)
    return arr, matched  # (L, B, H, Q, K)


def _as_array(x, name: str, dtype) -> np.ndarray:
    """Like :func:`to_numpy`, but with ``dtype=None`` a floating array keeps its own dtype (no copy)."""
    if dtype is not None:
        arr = to_numpy(x, name)
        return arr if arr.dtype == dtype else arr.astype(dtype)
    if hasattr(x, "detach"):  # a torch tensor: keep float32/float64, widen what numpy cannot hold
        x = x.detach().to("cpu")
        return (x if x.dtype in (_torch().float32, _torch().float64) else x.float()).numpy()
    if isinstance(x, np.ndarray) and np.issubdtype(x.dtype, np.floating):
        return x
    return to_numpy(x, name)


def _torch():
    import torch

    return torch
