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

Families that do not use ``AttentionInterface`` (Bloom with ALiBi, DeBERTa-v2's disentangled attention)
get hooks instead, found by structure, not by name:

* their probabilities ``(B, H, Q, K)`` pass through an ``nn.Dropout`` right after the softmax (the identity
  in ``eval()``): a forward hook on it hands them to the same :class:`AttentionProbe` — gates, scale and
  recording as above, still in the autograd graph;
* where no such dropout exists, a forward pre-hook on the block's **output projection** (``o_proj`` /
  ``dense`` / ``out_proj``: the last ``Linear`` of the attention block) scales head ``h``'s slice of its
  input ``(B, T, H·d)`` by ``ξ_h`` — the same gate, since that slice is ``A_h V_h``. It can gate heads, not
  record probabilities.

Layers that share one module (ALBERT calls the same block for all its layers) get one probe per *call*:
the ``l``-th attention call of a forward pass is layer ``l``.

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
    passes to the attention function; that is how we recognise them. Empty for the families that compute
    attention themselves (Bloom, DeBERTa-v2): :func:`attention_blocks` finds theirs.
    """
    return [(name, m) for name, m in model.named_modules()
            if hasattr(m, "scaling") and hasattr(m, "config") and not isinstance(m, AttentionProbe)]


def _is_linear(module) -> bool:
    return isinstance(module, torch.nn.Linear) or type(module).__name__ == "Conv1D"  # GPT-2's Conv1D


def attention_blocks(model) -> list[tuple[str, torch.nn.Module]]:
    """Attention blocks found by structure: the outermost modules whose class name says ``Attention`` and that
    hold a linear layer (Bloom's ``BloomAttention``; DeBERTa-v2's ``DebertaV2Attention``, which holds both
    the disentangled self-attention and the output projection), in forward order."""
    found: list[tuple[str, torch.nn.Module]] = []
    for name, module in model.named_modules():
        if "attention" not in type(module).__name__.lower() or isinstance(module, AttentionProbe):
            continue
        if any(name.startswith(outer + ".") for outer, _ in found):
            continue  # inside a block already found
        if any(_is_linear(m) for m in module.modules()):
            found.append((name, module))
    return found


OUTPUT_NAMES = ("o_proj", "out_proj", "dense", "c_proj", "out_lin", "o")  # what families call it


def output_projection(block: torch.nn.Module) -> torch.nn.Module:
    """The attention block's output projection, which mixes the heads' outputs ``(B, T, H·d) -> (B, T, D)``:
    the last linear layer of the block with one of the usual names, else the last linear layer."""
    linears = [(name, m) for name, m in block.named_modules() if _is_linear(m)]
    if not linears:
        raise TypeError(f"model: the attention block {type(block).__name__} has no linear output projection")
    named = [m for name, m in linears if name.split(".")[-1] in OUTPUT_NAMES]
    return named[-1] if named else linears[-1][1]


def _num_heads(module) -> int:
    for owner in (module, *module.children()):
        for attr in ("num_heads", "num_attention_heads", "n_head"):
            if isinstance(getattr(owner, attr, None), int):
                return getattr(owner, attr)
    return int(module.config.num_attention_heads)


class ProbeRouter:
    """Sits on one attention module and hands each call to the probe of the layer being computed.

    Usually one module is one layer; ALBERT's single block is called once per layer, and each call must
    reach its own probe. :class:`AttentionProbes` sets ``current`` before every call of the module. (A plain
    object, not a module: the probes stay outside the model's module tree.)
    """

    def __init__(self):
        self.current: AttentionProbe | None = None
        self.gated = False  # this call's gates already went through the probabilities (hook route)

    def __call__(self, probs: torch.Tensor) -> torch.Tensor:  # (B, H, Q, K) -> (B, H, Q, K)
        self.gated = True
        return self.current(probs) if self.current is not None else probs


class AttentionProbes:
    """Put an :class:`AttentionProbe` on every attention layer of a ``transformers`` model.

    Use it as a context manager; on exit the probes and hooks are removed and the model's own attention
    implementation is restored::

        with AttentionProbes(model) as probes:
            model(**inputs)
            probes.attentions()          # (L, B, H, Q, K), in the graph
            probes.set_head_mask(mask)   # (L, H): 0 removes a head

    ``route`` says how the probes were attached: ``"interface"`` (our attention function through
    ``AttentionInterface``), or ``"hooks"`` (a hook on the dropout the probabilities pass through, else on
    the output projection; see the module docstring). Passing ``route="hooks"`` forces the second on any
    model, and ``route="projection"`` the output-projection gates alone — the tests use them to check one
    route against another.
    """

    def __init__(self, model, route: str | None = None):
        if route not in (None, "interface", "hooks", "projection"):
            raise ValueError(f"route: got {route!r}; expected None (choose), 'interface', 'hooks' or "
                             "'projection'")
        self.model, self._route = model, route
        self.names, self.probes = [], []
        self._previous, self._handles, self._routers = None, [], []
        self._calls = 0

    def __enter__(self) -> AttentionProbes:
        if not isinstance(self.model, torch.nn.Module) or not hasattr(self.model, "config"):
            raise TypeError(f"model: got {type(self.model).__name__}; expected a transformers model")
        interface = attention_modules(self.model)
        self.route = self._route or ("interface" if interface else "hooks")
        modules = interface if self.route == "interface" else attention_blocks(self.model)  # hooks/projection
        if not modules:
            raise TypeError(f"model: {type(self.model).__name__} has no attention module (neither one that uses "
                            "transformers' AttentionInterface nor a block with a linear output projection)")
        n_layers = len(modules)
        declared = getattr(self.model.config, "num_hidden_layers", None)
        if isinstance(declared, int) and declared > n_layers:
            n_layers = declared  # shared blocks (ALBERT): one probe per call, in call order
        heads = _num_heads(modules[0][1])
        names = [name for name, _ in modules]
        self.names = [names[layer % len(names)] for layer in range(n_layers)]
        self.probes = [AttentionProbe(heads, name) for name in self.names]
        if self.route == "interface":
            self._previous = self.model.config._attn_implementation
            register_probed_attention()
            self.model.set_attn_implementation(PROBED_ATTENTION)
        self._handles.append(self.model.register_forward_pre_hook(self._new_forward))
        for _, module in modules:
            router = ProbeRouter()
            self._routers.append((module, router))
            self._handles.append(module.register_forward_pre_hook(self._enter_layer(router)))
            if self.route == "interface":
                module.attention_probe = router
            else:
                self._hook_block(module, router, heads)
        return self

    def _new_forward(self, module, args):
        self._calls = 0  # a new forward pass: the next attention call is layer 0

    def _enter_layer(self, router: ProbeRouter):
        def pre_hook(module, args):
            router.current, router.gated = self.probes[self._calls % len(self.probes)], False
            self._calls += 1
        return pre_hook

    def _hook_block(self, block, router: ProbeRouter, heads: int) -> None:
        def probabilities(module, args, output):  # a dropout's output: (B, H, Q, K) probabilities?
            if isinstance(output, torch.Tensor) and output.dim() == 4 and output.shape[1] == heads:
                return router(output)
            return None

        def gate_heads(module, args):  # the output projection's input (B, T, H·d): gate each head's slice
            probe = router.current
            if router.gated or probe is None or (probe.head_mask is None and probe.scale is None):
                return None
            (x, *rest) = args
            b, t, width = x.shape
            per_head = x.view(b, t, heads, width // heads)  # (B, T, H·d) -> (B, T, H, d)
            if probe.head_mask is not None:
                gate = probe.head_mask.to(x)
                per_head = per_head * (gate.view(1, 1, -1, 1) if gate.dim() == 1 else gate.view(b, 1, -1, 1))
            if probe.scale is not None:
                per_head = per_head * probe.scale.to(x).view(-1, 1, 1, 1)  # (B, 1, 1, 1)
            return (per_head.reshape(b, t, width), *rest)  # (B, T, H, d) -> (B, T, H·d)

        for module in block.modules() if self.route == "hooks" else ():
            if isinstance(module, torch.nn.Dropout):
                self._handles.append(module.register_forward_hook(probabilities))
        self._handles.append(output_projection(block).register_forward_pre_hook(gate_heads))

    def __exit__(self, *exc) -> None:
        for handle in self._handles:
            handle.remove()
        for module, _ in self._routers:
            if "attention_probe" in module.__dict__:
                del module.__dict__["attention_probe"]
        self._handles, self._routers = [], []
        if self.route == "interface":
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
        if not torch.isfinite(mask).all():
            raise ValueError("mask: contains NaN or Inf; expected gates (1 = head on, 0 = head removed)")
        for probe, row in zip(self.probes, mask):
            probe.head_mask = row  # (H,) or (B, H)

    def attentions(self) -> torch.Tensor:
        """The probabilities of the latest forward pass, stacked ``(L, B, H, Q, K)`` (still in the graph)."""
        missing = [p.name for p in self.probes if p.last is None]
        if missing and self.route != "interface" and all(p.last is None for p in self.probes):
            raise RuntimeError(f"{type(self.model).__name__}: its attention probabilities pass through no module "
                               "a hook can reach; the probes can gate its heads but not record them — use "
                               "attnviz.extract.transformer_attentions (output_attentions) for the weights")
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
