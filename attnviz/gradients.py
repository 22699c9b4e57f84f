"""Gradients of a scalar output with respect to the attention probabilities, and the scalar outputs themselves.

Several lessons explain one number ``y`` — a class logit, the logit of the next token, the similarity of two
sentence embeddings — by how it depends on every attention weight: gradient-weighted flow
(``03_advanced/attention_flow.py``), Chefer et al.'s relevance (``gradient_attention.py``), the faithfulness
comparison (``attention_faithfulness.py``) and exercise A5. They share this module:

- :func:`attention_gradients` runs a ``transformers`` model with eager attention, keeps ``∂y/∂A`` on every
  layer's ``(B, H, Q, K)`` probability tensor (``retain_grad()`` on the very tensors the forward pass used)
  and returns ``(A, ∂y/∂A)`` as ``(L, B, H, Q, K)`` numpy arrays;
- the targets ``y``: :func:`class_logit`, :func:`next_token_logit`, :func:`embedding_similarity` (with
  :func:`mean_pool`, all-MiniLM-L6-v2's sentence embedding);
- :func:`check_attention_gradients`, the one check of an attention array and its gradient.
"""

from __future__ import annotations

import numpy as np

from attnviz.validate import check_attention, to_numpy


def attention_gradients(model, inputs: dict, target, *, kind: str = "self"):
    """Attention probabilities and the gradient of a scalar target with respect to them.

    Runs ``model(**inputs, output_attentions=True)`` with gradients on, calls ``retain_grad()`` on every
    layer's ``(B, H, Q, K)`` probability tensor (eager attention returns the tensors the forward pass used),
    computes ``y = target(outputs).sum()`` and back-propagates.

    Args:
        target: ``target(outputs) -> (B,)`` tensor, one number per example — see :func:`class_logit`,
            :func:`next_token_logit`, :func:`embedding_similarity`.
        kind: ``"self"`` (encoder or decoder-only), ``"encoder"``, ``"decoder"`` or ``"cross"``.

    Returns:
        ``(A, dA)``: numpy ``(L, B, H, Q, K)`` each — the weights and ``∂y/∂A``.
    """
    import torch

    from attnviz.extract import NoAttentionWeightsError, use_eager_attention

    field = {"self": "attentions", "encoder": "encoder_attentions", "decoder": "decoder_attentions",
             "cross": "cross_attentions"}.get(kind)
    if field is None:
        raise ValueError(f"kind: got {kind!r}; expected one of self, encoder, decoder, cross")
    if not callable(target):
        raise TypeError(f"target: expected a function outputs -> (B,) tensor, got {type(target).__name__}")
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model: expected a transformers model (torch.nn.Module), got {type(model).__name__}")
    from collections.abc import Mapping

    if not isinstance(inputs, Mapping) or not inputs:
        raise TypeError(f"inputs: expected a non-empty dict of model inputs (input_ids=..., pixel_values=...), "
                        f"got {type(inputs).__name__}")
    use_eager_attention(model)
    model.zero_grad(set_to_none=True)
    with torch.enable_grad():
        outputs = model(**inputs, output_attentions=True)
        layers = getattr(outputs, field, None)
        if kind == "self" and layers is None:
            layers = getattr(outputs, "encoder_attentions", None)
        if not layers or any(a is None for a in layers):
            raise NoAttentionWeightsError(f"the model returned no attention weights ({field}); load it with "
                                          "attn_implementation='eager'")
        for a in layers:
            a.retain_grad()  # keep ∂y/∂A on these non-leaf tensors
        value = target(outputs)
        if value.dim() > 1:
            raise ValueError(f"target: must return one number per example, shape (B,), got {tuple(value.shape)}")
        value.sum().backward()
    weights = torch.stack([a.detach() for a in layers]).float().cpu().numpy()  # (L, B, H, Q, K)
    grads = torch.stack([a.grad if a.grad is not None else torch.zeros_like(a) for a in layers])  # (L, B, H, Q, K)
    return weights.astype(np.float64), grads.float().cpu().numpy().astype(np.float64)


def _check_optional_index(value, name: str) -> int | None:
    """``None`` or an integer (a class, token or position index); anything else is a ``TypeError``."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"{name}: expected an integer index or None, got {type(value).__name__} {value!r}")
    return int(value)


def _pick(logits, index: int | None, name: str, what: str):
    """``logits[b, index]`` per example (``index=None``: the arg-max); ``index`` checked against ``(B, N)``."""
    n = int(logits.shape[-1])
    if index is not None and not -n <= index < n:
        raise ValueError(f"{name}: {what} {index} is out of range; the model has {n} (valid: 0..{n - 1})")
    chosen = logits.argmax(-1) if index is None else logits.new_full((logits.shape[0],), index % n).long()
    return logits.gather(1, chosen[:, None])[:, 0]  # (B,)


def class_logit(index: int | None = None):
    """Target: the logit of class ``index`` (default: the predicted class) of a classifier (ViT).

    ``index`` must be an integer (``TypeError`` otherwise); one out of the model's range is a ``ValueError``
    naming ``index`` when the target is evaluated (the number of classes is known only then).
    """
    index = _check_optional_index(index, "index")

    def target(outputs):
        logits = outputs.logits  # (B, C)
        return _pick(logits, index, "index", "class")
    return target


def next_token_logit(token_id: int | None = None, position: int = -1):
    """Target: the logit of ``token_id`` (default: the predicted token) at ``position`` of a causal LM.

    Both are checked when the target is evaluated: ``token_id`` against the vocabulary, ``position`` against
    the sequence length (``ValueError`` naming the argument).
    """
    token_id = _check_optional_index(token_id, "token_id")
    position = _check_optional_index(position, "position")
    if position is None:
        raise TypeError("position: expected an integer index, got None")

    def target(outputs):
        n_positions = int(outputs.logits.shape[1])  # logits: (B, T, V)
        if not -n_positions <= position < n_positions:
            raise ValueError(f"position: index {position} is out of range; the input has {n_positions} "
                             f"positions (valid: 0..{n_positions - 1} or -{n_positions}..-1)")
        logits = outputs.logits[:, position]  # (B, V)
        return _pick(logits, token_id, "token_id", "token id")
    return target


def mean_pool(hidden, attention_mask):
    """Mean of the real tokens' vectors — all-MiniLM-L6-v2's sentence embedding. ``(B, T, d)`` -> ``(B, d)``."""
    if not hasattr(hidden, "dim") or hidden.dim() != 3:
        shape = tuple(hidden.shape) if hasattr(hidden, "shape") else type(hidden).__name__
        raise ValueError(f"hidden: got {shape}; expected a (batch, tokens, dim) tensor")
    if not hasattr(attention_mask, "dim") or tuple(attention_mask.shape) != tuple(hidden.shape[:2]):
        shape = tuple(attention_mask.shape) if hasattr(attention_mask, "shape") else type(attention_mask).__name__
        raise ValueError(f"attention_mask: got {shape}; expected a {tuple(hidden.shape[:2])} tensor "
                         "(1 = real token, 0 = padding), one per token of hidden")
    mask = attention_mask[..., None].to(hidden.dtype)  # (B, T, 1)
    return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)


def embedding_similarity(other_embedding, attention_mask):
    """Target for a sentence encoder: cosine similarity of the mean-pooled embedding with ``other_embedding``
    ``(d,)`` (e.g. a second sentence's, computed under ``torch.no_grad()``)."""
    import torch

    if not isinstance(other_embedding, torch.Tensor) or other_embedding.dim() != 1:
        shape = tuple(other_embedding.shape) if hasattr(other_embedding, "shape") else type(other_embedding).__name__
        raise ValueError(f"other_embedding: got {shape}; expected a (dim,) tensor, one sentence's embedding")
    if not bool(torch.isfinite(other_embedding).all()):
        raise ValueError("other_embedding: contains NaN or Inf values")

    def target(outputs):
        pooled = mean_pool(outputs.last_hidden_state, attention_mask)  # (B, d)
        if pooled.shape[-1] != other_embedding.shape[0]:
            raise ValueError(f"other_embedding: has {other_embedding.shape[0]} values; the model's embedding "
                             f"has {pooled.shape[-1]}")
        return torch.nn.functional.cosine_similarity(pooled, other_embedding[None].to(pooled.dtype), dim=-1)
    return target


def check_attention_gradients(attention, gradients) -> tuple[np.ndarray, np.ndarray]:
    """Validate ``(L, [B,] H, Q, K)`` attention and ``∂y/∂A`` of the same shape; return both as numpy."""
    weights = check_attention(attention, "LHQK|LBHQK", name="attention", square=True)
    grads = to_numpy(gradients, "gradients")
    if grads.shape != weights.shape:
        raise ValueError(f"gradients: shape {grads.shape} differs from attention's {weights.shape}; "
                         "take ∂y/∂A with respect to the attention probabilities themselves")
    if not np.all(np.isfinite(grads)):
        raise ValueError("gradients: contains NaN or Inf values")
    return weights, grads
