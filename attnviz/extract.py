"""Getting attention weights out of the three places they live, into the layout ``(L, B, H, Q, K)``.

1. ``transformers`` models: ``model(**inputs, output_attentions=True).attentions`` is a tuple with one
   ``(B, H, Q, K)`` tensor per layer — but only under eager attention. Under SDPA or flash attention the
   weights are never formed, and current ``transformers`` answers ``output_attentions=True`` with a
   warning and an *empty tuple*. :func:`transformer_attentions` forces eager attention and raises a
   clear error instead of letting an empty tuple reach a plot.
2. ``torch.nn.MultiheadAttention``: returns ``(output, weights)``, but by default
   (``average_attn_weights=True``) the weights are the *mean over heads*, ``(B, Q, K)`` — the heads are
   gone without a word. :class:`MultiheadAttentionRecorder` hooks every such module and asks for
   ``need_weights=True, average_attn_weights=False``, so each head is kept: ``(B, H, Q, K)``.
3. Keras ``MultiHeadAttention(..., return_attention_scores=True)``: a ``(batch, heads, target, source)``
   array. :func:`from_keras` validates it (rows must sum to 1 over *source*) and adds the layer axis.
"""

from __future__ import annotations

import numpy as np

from attnviz.validate import check_attention, to_canonical


class NoAttentionWeightsError(RuntimeError):
    """The model returned no attention weights (fused SDPA/flash kernels never form them)."""


def use_eager_attention(model) -> None:
    """Switch a ``transformers`` model to eager attention so that weights can be returned."""
    if hasattr(model, "set_attn_implementation"):
        try:
            model.set_attn_implementation("eager")
            return
        except Exception:  # noqa: BLE001 - older/odd models: fall back to the config flag
            pass
    model.config._attn_implementation = "eager"


def transformer_attentions(model, inputs: dict, *, kind: str = "self", force_eager: bool = True):
    """Run ``model(**inputs, output_attentions=True)`` and stack the weights to ``(L, B, H, Q, K)``.

    ``kind`` picks which attention of an encoder-decoder: ``"self"`` (encoder or decoder-only),
    ``"encoder"``, ``"decoder"`` or ``"cross"``. Returns a torch tensor (kept on the model's device and
    in the autograd graph, so gradient lessons can use it too).
    """
    import torch

    if force_eager:
        use_eager_attention(model)
    outputs = model(**inputs, output_attentions=True)
    field = {
        "self": "attentions",
        "encoder": "encoder_attentions",
        "decoder": "decoder_attentions",
        "cross": "cross_attentions",
    }.get(kind)
    if field is None:
        raise ValueError(f"kind: got {kind!r}; expected one of self, encoder, decoder, cross")
    if kind == "self" and getattr(outputs, "attentions", None) is None and hasattr(outputs, "encoder_attentions"):
        field = "encoder_attentions"
    layers = getattr(outputs, field, None)
    if not layers or any(a is None for a in layers):
        impl = getattr(model.config, "_attn_implementation", "unknown")
        raise NoAttentionWeightsError(
            f"the model returned no attention weights ({field} is {type(layers).__name__} of length "
            f"{len(layers) if layers is not None else 0}) with attn_implementation={impl!r}; load it with "
            "attn_implementation='eager' — SDPA and flash attention never form the weight matrix"
        )
    return torch.stack(tuple(layers), dim=0)  # (L, B, H, Q, K)


class MultiheadAttentionRecorder:
    """Record per-head weights from every ``torch.nn.MultiheadAttention`` inside a module.

    Usage::

        with MultiheadAttentionRecorder(model) as recorder:
            model(x)
        weights = recorder.stacked()        # (L, B, H, Q, K), one L per call in forward order

    A forward *pre*-hook rewrites the call's keyword arguments to ``need_weights=True,
    average_attn_weights=False``; a forward hook stores the returned weights. Nothing about the
    module's output changes: the attention output does not depend on those flags.
    """

    def __init__(self, module):
        import torch

        self.modules = [m for m in module.modules() if isinstance(m, torch.nn.MultiheadAttention)]
        if not self.modules:
            raise ValueError(f"module: {type(module).__name__} contains no torch.nn.MultiheadAttention")
        self.weights: list = []
        self._handles: list = []

    def _pre_hook(self, mod, args, kwargs):
        kwargs = dict(kwargs)
        kwargs["need_weights"] = True
        kwargs["average_attn_weights"] = False
        return args, kwargs

    def _hook(self, mod, args, kwargs, output):
        weights = output[1]
        if weights is not None and weights.dim() == 3:  # unbatched call: (H, Q, K) -> (1, H, Q, K)
            weights = weights.unsqueeze(0)
        self.weights.append(weights.detach())

    def __enter__(self):
        for m in self.modules:
            self._handles.append(m.register_forward_pre_hook(self._pre_hook, with_kwargs=True))
            self._handles.append(m.register_forward_hook(self._hook, with_kwargs=True))
        return self

    def __exit__(self, *exc):
        for h in self._handles:
            h.remove()
        self._handles.clear()

    def stacked(self) -> np.ndarray:
        """All recorded calls as ``(L, B, H, Q, K)`` numpy."""
        if not self.weights:
            raise NoAttentionWeightsError("no nn.MultiheadAttention call was recorded: run the model inside `with`")
        return np.stack([w.cpu().numpy() for w in self.weights])  # (L, B, H, Q, K)


def from_keras(scores, *, name: str = "attention_scores") -> np.ndarray:
    """Keras-style ``(batch, heads, target, source)`` -> canonical ``(1, B, H, Q, K)``.

    The rows are *target* positions (queries) and must sum to 1 over *source* (keys). A common mistake is
    to transpose to ``(batch, heads, source, target)``; the row-sum check catches it whenever target and
    source lengths differ or the matrix is not symmetric in sum.
    """
    arr = check_attention(scores, "BHQK", name=name)
    return to_canonical(arr, "BHQK", name=name)  # (1, B, H, Q, K)

