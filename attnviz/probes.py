"""Probes on the attention probabilities: head gates and recorded weights through ``transformers``' AttentionInterface.

Michel et al.'s head importance (``03_advanced/attention_entropy.py``) needs a gate ``ξ_h`` on every head;
Hao et al.'s attention attribution (``integrated_attention.py``) needs to scale a layer's probabilities,
``α·A``; exercise A5 needs every layer's probabilities *in the autograd graph*. ``transformers`` 5 removed
the ``head_mask`` argument that BERT, GPT-2 and ViT used to take. Instead every attention module calls a
function looked up by name in ``AttentionInterface``; we register our own, :func:`probed_attention_forward`
— eager attention (``softmax(QKᵀ·scale + mask) V``) with one extra step: the probabilities pass through a
small module, :class:`AttentionProbe`, that multiplies head ``h`` by ``ξ_h`` (and the whole matrix by a
per-example scale) and remembers the probabilities. Multiplying head ``h``'s probabilities by ``ξ_h`` is the
same as multiplying its output, because the output ``A_h V_h`` is linear in ``A_h``.

One trap: a name registered only with ``AttentionInterface`` gets *no attention mask* — the model builds
masks through a second registry, ``AttentionMaskInterface``, and skips the mask for names it does not know:
GPT-2 would see the future and BERT the padding. :func:`register_probed_attention` registers both.

This is the most version-dependent code of the course: it follows the ``AttentionInterface`` contract of
``transformers`` 5 (``(module, query, key, value, attention_mask, scaling, dropout, **kwargs) -> (output,
probs)``).

Usage::

    from attnviz.probes import AttentionProbes
    with AttentionProbes(model) as probes:    # every head gets a gate ξ_h = 1
        model(**inputs)
        probes.attentions()                   # (L, B, H, Q, K), in the graph
        probes.set_head_mask(mask)            # (L, H): 0 removes a head

:func:`pruning_curve` uses the gates to remove heads one after another and measure the model after each.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from attnviz.validate import check_index, to_numpy

PROBED_ATTENTION = "attnviz_probed"  # the name our attention function is registered under


class AttentionProbe(torch.nn.Module):
    """Sits on one attention module's probabilities ``(B, H, Q, K)``: gates heads and records them.

    ``head_mask`` ``(H,)`` — or ``(B, H)`` for one gate per example — multiplies head ``h``'s probabilities
    (``None``: all heads on). ``scale`` ``(B,)`` multiplies the whole matrix (``integrated_attention.py``
    uses it as the ``α`` of ``α·A``). ``last`` holds the probabilities of the latest call, after the gates.
    """

    def __init__(self, num_heads: int, name: str = ""):
        super().__init__()
        self.num_heads, self.name = int(num_heads), name
        self.head_mask: torch.Tensor | None = None
        self.scale: torch.Tensor | None = None
        self.last: torch.Tensor | None = None
        self.calls = 0

    def forward(self, probs: torch.Tensor) -> torch.Tensor:  # (B, H, Q, K) -> (B, H, Q, K)
        if self.head_mask is not None:
            gate = self.head_mask.to(probs)
            gate = gate.view(1, -1, 1, 1) if gate.dim() == 1 else gate.view(gate.shape[0], -1, 1, 1)  # (B|1, H, 1, 1)
            probs = probs * gate
        if self.scale is not None:
            probs = probs * self.scale.to(probs).view(-1, 1, 1, 1)  # (B, 1, 1, 1)
        self.last, self.calls = probs, self.calls + 1
        return probs


def probed_attention_forward(module, query, key, value, attention_mask, scaling=None, dropout=0.0, **kwargs):
    """Eager attention with the probabilities routed through ``module.attention_probe``.

    ``query`` ``(B, H, Q, d)``, ``key``/``value`` ``(B, H_kv, K, d)``, ``attention_mask`` an additive
    ``(B, 1, Q, K)`` float mask (0 = keep, very negative = drop) or ``None``. Returns ``(output, probs)``
    with output ``(B, Q, H, d)`` — the contract every ``AttentionInterface`` function follows.
    """
    if scaling is None:
        scaling = query.shape[-1] ** -0.5
    if key.shape[1] != query.shape[1]:  # grouped-query attention: share each key/value head
        key = key.repeat_interleave(query.shape[1] // key.shape[1], dim=1)
        value = value.repeat_interleave(query.shape[1] // value.shape[1], dim=1)
    scores = torch.matmul(query, key.transpose(-1, -2)) * scaling  # (B, H, Q, K)
    if attention_mask is not None:
        scores = scores + attention_mask[..., : key.shape[-2]]
    probs = torch.softmax(scores, dim=-1, dtype=torch.float32).to(query.dtype)  # (B, H, Q, K)
    probe = getattr(module, "attention_probe", None)
    if probe is not None:
        probs = probe(probs)
    probs = torch.nn.functional.dropout(probs, p=dropout, training=module.training)
    output = torch.matmul(probs, value).transpose(1, 2).contiguous()  # (B, H, Q, d) -> (B, Q, H, d)
    return output, probs


def register_probed_attention() -> str:
    """Register :func:`probed_attention_forward` under ``PROBED_ATTENTION`` — and its mask function.

    Without the second registration the model would build no attention mask for the new name (no causal
    mask for GPT-2, no padding mask for BERT): ``AttentionMaskInterface`` must know it too.
    """
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, eager_mask

    AttentionInterface.register(PROBED_ATTENTION, probed_attention_forward)
    AttentionMaskInterface.register(PROBED_ATTENTION, eager_mask)
    return PROBED_ATTENTION


def attention_modules(model) -> list[tuple[str, torch.nn.Module]]:
    """The modules that call the attention function, in forward order (encoder before decoder).

    Every attention module of a current ``transformers`` model keeps its ``config`` and the ``scaling`` it
    passes to the attention function; that is how we recognise them.
    """
    found = [(name, m) for name, m in model.named_modules()
             if hasattr(m, "scaling") and hasattr(m, "config") and not isinstance(m, AttentionProbe)]
    if not found:
        raise TypeError(f"model: {type(model).__name__} has no attention module that uses transformers' "
                        "AttentionInterface (needs transformers >= 5 and a model with eager attention)")
    return found


def _num_heads(module) -> int:
    for attr in ("num_heads", "num_attention_heads"):
        if isinstance(getattr(module, attr, None), int):
            return getattr(module, attr)
    return int(module.config.num_attention_heads)


class AttentionProbes:
    """Put an :class:`AttentionProbe` on every attention module of a ``transformers`` model.

    Use it as a context manager; on exit the probes are removed and the model's own attention
    implementation is restored::

        with AttentionProbes(model) as probes:
            model(**inputs)
            probes.attentions()          # (L, B, H, Q, K), in the graph
            probes.set_head_mask(mask)   # (L, H): 0 removes a head
    """

    def __init__(self, model):
        self.model = model
        self.names, self.probes = [], []
        self._previous = None

    def __enter__(self) -> AttentionProbes:
        modules = attention_modules(self.model)  # TypeError first if this is not a transformers model
        self._previous = self.model.config._attn_implementation
        register_probed_attention()
        self.model.set_attn_implementation(PROBED_ATTENTION)
        for name, module in modules:
            probe = AttentionProbe(_num_heads(module), name)
            module.attention_probe = probe
            self.names.append(name)
            self.probes.append(probe)
        return self

    def __exit__(self, *exc) -> None:
        for _, module in attention_modules(self.model):
            if "attention_probe" in module._modules:
                del module._modules["attention_probe"]
        self.model.set_attn_implementation(self._previous or "eager")

    def __len__(self) -> int:
        return len(self.probes)

    @property
    def num_heads(self) -> int:
        return self.probes[0].num_heads

    def set_head_mask(self, mask) -> None:
        """Gate every head: ``mask`` is ``(L, H)`` (or ``(L, B, H)``, one gate per example), ``None`` = all on.

        A tensor that requires grad keeps the gradient path: ``∂L/∂mask`` is Michel et al.'s score.
        """
        if mask is None:
            for probe in self.probes:
                probe.head_mask = None
            return
        mask = mask if isinstance(mask, torch.Tensor) else torch.as_tensor(to_numpy(mask, "mask"), dtype=torch.float32)
        if mask.dim() not in (2, 3) or mask.shape[0] != len(self) or mask.shape[-1] != self.num_heads:
            raise ValueError(f"mask: got shape {tuple(mask.shape)}; expected ({len(self)}, {self.num_heads}) "
                             f"(layers, heads) or ({len(self)}, batch, {self.num_heads})")
        for probe, row in zip(self.probes, mask):
            probe.head_mask = row  # (H,) or (B, H)

    def attentions(self) -> torch.Tensor:
        """The probabilities of the latest forward pass, stacked ``(L, B, H, Q, K)`` (still in the graph)."""
        missing = [p.name for p in self.probes if p.last is None]
        if missing:
            raise RuntimeError(f"no forward pass went through {missing[0]}: run the model inside `with AttentionProbes`")
        return torch.stack([p.last for p in self.probes])  # (L, B, H, Q, K)


def pruning_curve(model, order, evaluate: Callable[[torch.nn.Module], float], steps=None) -> np.ndarray:
    """Remove heads in ``order`` and measure after each: ``evaluate(model)`` for 0, 1, …, L·H heads removed.

    ``order`` is ``(n, 2)`` (layer, head) pairs; ``steps`` optionally lists which counts to measure
    (default: every count). Returns ``(len(steps),)``.
    """
    order = np.asarray(order, dtype=int)
    with AttentionProbes(model) as probes:
        if order.ndim != 2 or order.shape[1] != 2:
            raise ValueError(f"order: got shape {order.shape}; expected (n, 2) pairs of (layer, head)")
        for layer, head in order:
            check_index(int(layer), len(probes), name="layer")
            check_index(int(head), probes.num_heads, name="head")
        steps = range(len(order) + 1) if steps is None else steps
        results = []
        for k in steps:
            mask = torch.ones(len(probes), probes.num_heads)  # (L, H)
            for layer, head in order[:k]:
                mask[layer, head] = 0.0
            probes.set_head_mask(mask)
            with torch.no_grad():
                results.append(float(evaluate(model)))
    return np.asarray(results)
