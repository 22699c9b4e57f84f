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


def class_logit(index: int | None = None):
    """Target: the logit of class ``index`` (default: the predicted class) of a classifier (ViT)."""
    def target(outputs):
        logits = outputs.logits  # (B, C)
        chosen = logits.argmax(-1) if index is None else logits.new_full((logits.shape[0],), index).long()
        return logits.gather(1, chosen[:, None])[:, 0]  # (B,)
    return target


def next_token_logit(token_id: int | None = None, position: int = -1):
    """Target: the logit of ``token_id`` (default: the predicted token) at ``position`` of a causal LM."""
    def target(outputs):
        logits = outputs.logits[:, position]  # (B, V)
        chosen = logits.argmax(-1) if token_id is None else logits.new_full((logits.shape[0],), token_id).long()
        return logits.gather(1, chosen[:, None])[:, 0]  # (B,)
    return target


def mean_pool(hidden, attention_mask):
    """Mean of the real tokens' vectors — all-MiniLM-L6-v2's sentence embedding. ``(B, T, d)`` -> ``(B, d)``."""
    mask = attention_mask[..., None].to(hidden.dtype)  # (B, T, 1)
    return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)


def embedding_similarity(other_embedding, attention_mask):
    """Target for a sentence encoder: cosine similarity of the mean-pooled embedding with ``other_embedding``
    ``(d,)`` (e.g. a second sentence's, computed under ``torch.no_grad()``)."""
    import torch

    def target(outputs):
        pooled = mean_pool(outputs.last_hidden_state, attention_mask)  # (B, d)
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
