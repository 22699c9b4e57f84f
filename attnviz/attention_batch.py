"""The attention of a (padded) batch, checked: any layout to ``(L, B, H, Q, K)``, the real tokens, and no weight
where a query cannot see.

Per-head statistics over many inputs (``03_advanced/attention_entropy.py``: entropy, confidence) take one
example's ``(H, Q, K)`` or ``(L, H, Q, K)`` or a padded batch's ``(L, B, H, Q, K)`` with the tokenizer's
attention mask, and average over the real query rows only. These three helpers are their input contract:

- :func:`as_attention_batch`: the array in the canonical layout, and the layout it came in (to give the
  result back in the same shape);
- :func:`real_tokens`: the tokenizer mask as booleans ``(B, K)`` (all ``True`` without one);
- :func:`check_visible`: refuses weight on padding keys, or on future keys of a causal model.
"""

from __future__ import annotations

import numpy as np

from attnviz.validate import check_attention, check_mask, to_canonical


def as_attention_batch(attention, name: str = "attention") -> tuple[np.ndarray, str]:
    """``(H, Q, K)``, ``(L, H, Q, K)`` or ``(L, B, H, Q, K)`` -> ``(L, B, H, Q, K)`` and the layout it had."""
    arr = check_attention(attention, "HQK|LHQK|LBHQK", name=name, square=True)
    layout = {3: "HQK", 4: "LHQK", 5: "LBHQK"}[arr.ndim]
    return to_canonical(arr, layout, name=name), layout  # missing axes inserted: (L, B, H, Q, K)


def real_tokens(attention_mask, n_batch: int, n: int) -> np.ndarray:
    """A tokenizer mask ``(K,)`` or ``(B, K)`` (or ``None``) -> boolean ``(B, K)`` of the real tokens."""
    mask = check_mask(attention_mask, n, n_batch=n_batch)  # (B, K) booleans, or None
    return np.ones((n_batch, n), dtype=bool) if mask is None else mask


def check_visible(arr: np.ndarray, real: np.ndarray, causal: bool) -> None:
    """No real query may put weight on a key it cannot see (padding, or the future of a causal model).

    Padding *query* rows are not checked: they hold whatever the model left there (zeros for most families,
    uniform over every key for DeBERTa-v2) and every statistic of the course leaves them out."""
    n = arr.shape[-1]
    visible = real[:, None, :] & (np.tril(np.ones((n, n), dtype=bool)) if causal else True)  # (B, Q, K)
    checked = ~visible & real[:, :, None]  # (B, Q, K): hidden keys of real queries
    leaked = np.abs(arr * checked[None, :, None]).max()
    if leaked > 1e-3:
        what = "future keys (is the model really causal?)" if causal else "padding keys (is the mask right?)"
        raise ValueError(f"attention: puts weight {leaked:.3g} on {what}; expected 0 there")
