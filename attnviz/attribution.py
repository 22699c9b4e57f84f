"""Integrated-gradients plumbing shared by the attribution lessons (3.6 ``integrated_attention.py`` and 3.7
``attention_faithfulness.py``): the outputs ``F`` they explain, Captum's integral with its completeness
search, and Spearman's rank correlation.

- the targets ``F(input_ids, *extra) -> (B,)``: :class:`SentenceSimilarity` (cosine similarity of
  all-MiniLM-L6-v2's mean-pooled embedding with a reference sentence) and :class:`NextTokenLogProb`;
- :func:`integrate`: Captum's ``LayerIntegratedGradients`` with ``n_steps`` doubled until the completeness
  error ``|Σ attribution − (F(x) − F(x'))| / |F(x) − F(x')|`` is within a tolerance, ``F(x)`` and ``F(x')``
  read from Captum's own end-point passes (:class:`EndpointRecorder`); :func:`check_steps`,
  :func:`check_output`, :func:`token_ids` and :func:`twice` are its input checks and batching, and
  :func:`integration_steps` the lessons' ``--steps`` option;
- :func:`check_comparison`: the input checks of the lesson's ``compare_with_attention``;
- :func:`spearman`: rank correlation of two vectors, NaN when either is constant.

The idea — integrated gradients on the embeddings, Hao et al.'s attention attribution — is taught in
``03_advanced/integrated_attention.py``, which calls these.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from attnviz.gradients import mean_pool
from attnviz.validate import to_numpy

METHODS = ("gausslegendre", "riemann_left", "riemann_right", "riemann_middle", "riemann_trapezoid")

ForwardFn = Callable[..., torch.Tensor]  # forward_fn(input_ids, *extra) -> (B,): one number per example


# ======================================================================== targets: F, one number per example
class SentenceSimilarity:
    """``F`` for a sentence encoder: cosine similarity of the mean-pooled embedding with a reference sentence.

    ``F(input_ids, attention_mask) -> (B,)``, the signature Captum calls: ids first, then the extra inputs.
    Mean pooling over the real tokens (:func:`attnviz.gradients.mean_pool`) is how all-MiniLM-L6-v2 builds its
    sentence embedding.
    """

    def __init__(self, model, tokenizer, reference: str):
        if not isinstance(reference, str) or not reference.strip():
            raise ValueError(f"reference: expected a non-empty sentence, got {reference!r}")
        self.model = model
        encoded = tokenizer(reference, return_tensors="pt").to(next(model.parameters()).device)
        with torch.no_grad():
            self.reference = self.embed(encoded["input_ids"], encoded["attention_mask"])[0]  # (d,)

    def embed(self, input_ids, attention_mask):
        hidden = self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state  # (B, T, d)
        return mean_pool(hidden, attention_mask)  # (B, d)

    def __call__(self, input_ids, attention_mask):
        embedding = self.embed(input_ids, attention_mask)  # (B, d)
        return torch.nn.functional.cosine_similarity(embedding, self.reference[None], dim=-1)  # (B,)


class NextTokenLogProb:
    """``F`` for a causal LM: log-probability of ``target_ids`` (one per example) as the token after the last
    position.

    ``F(input_ids, target_ids) -> (B,)``. Pass ``target_ids`` as an *extra* input so Captum repeats it with
    the batch along the path.
    """

    def __init__(self, model):
        self.model = model

    def __call__(self, input_ids, target_ids):
        logits = self.model(input_ids=input_ids).logits[:, -1]  # (B, V)
        target_ids = torch.as_tensor(target_ids, device=logits.device)
        if target_ids.dtype.is_floating_point or target_ids.numel() != logits.shape[0]:
            raise ValueError(f"target_ids: got {tuple(target_ids.shape)} {target_ids.dtype}; expected "
                             f"{logits.shape[0]} integer token ids, one per example")
        if target_ids.numel() and not (0 <= int(target_ids.min()) and int(target_ids.max()) < logits.shape[-1]):
            raise ValueError(f"target_ids: got ids from {int(target_ids.min())} to {int(target_ids.max())}; "
                             f"expected 0..{logits.shape[-1] - 1} (the vocabulary)")
        return torch.log_softmax(logits.float(), -1).gather(1, target_ids.view(-1, 1))[:, 0]  # (B,)


# ======================================================================== Captum's integral, checked
def check_steps(n_steps, method, tolerance=None, max_steps=None):
    """``n_steps`` an integer ≥ 2, ``method`` one of :data:`METHODS`, ``tolerance`` ``None`` or in (0, 1),
    ``max_steps`` an integer at least ``n_steps``; a ``ValueError``/``TypeError`` naming the argument."""
    if isinstance(n_steps, bool) or not isinstance(n_steps, int) or n_steps < 2:
        raise ValueError(f"n_steps: got {n_steps!r}; expected an integer of at least 2 (Captum's rules need two "
                         "points; 16–64 is typical)")
    if method not in METHODS:
        raise ValueError(f"method: got {method!r}; expected one of {', '.join(METHODS)}")
    if tolerance is not None:
        if isinstance(tolerance, bool) or not isinstance(tolerance, int | float | np.floating):
            raise TypeError(f"tolerance: got {type(tolerance).__name__}; expected a number in (0, 1) or None")
        if not 0 < float(tolerance) < 1:
            raise ValueError(f"tolerance: got {tolerance!r}; expected a fraction in (0, 1), e.g. 0.01 for 1 %, "
                             "or None for exactly n_steps")
    if max_steps is not None:
        if isinstance(max_steps, bool) or not isinstance(max_steps, int | np.integer):
            raise TypeError(f"max_steps: got {type(max_steps).__name__}; expected an integer")
        if max_steps < n_steps:
            raise ValueError(f"max_steps: got {max_steps}; expected at least n_steps ({n_steps})")


def integration_steps(text: str) -> int:
    """``--steps``/``--attention-steps``: an integer of at least 2, checked before any model is loaded."""
    import argparse

    try:
        steps = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"got {text!r}; expected an integer number of steps (at least 2)") \
            from None
    if steps < 2:
        raise argparse.ArgumentTypeError(f"got {steps}; expected at least 2 steps (16–64 is typical)")
    return steps


def token_ids(ids, name: str) -> torch.Tensor:
    """Token ids as an integer tensor; a ``TypeError``/``ValueError`` naming ``name`` otherwise."""
    if ids is None or isinstance(ids, str | bytes | dict):
        raise TypeError(f"{name}: expected a (batch, tokens) tensor of token ids, got {type(ids).__name__}")
    try:
        ids = torch.as_tensor(ids)
    except (TypeError, ValueError, RuntimeError) as err:
        raise TypeError(f"{name}: expected a (batch, tokens) tensor of token ids ({err})") from None
    if ids.dtype.is_floating_point or ids.dtype.is_complex or ids.dtype == torch.bool:
        raise TypeError(f"{name}: got dtype {ids.dtype}; expected integer token ids")
    if ids.numel() and int(ids.min()) < 0:
        raise ValueError(f"{name}: contains the negative id {int(ids.min())}; token ids are >= 0")
    return ids


def check_output(values, n: int, name: str = "forward_fn") -> None:
    if not isinstance(values, torch.Tensor) or values.dim() != 1 or values.shape[0] != n:
        shape = tuple(values.shape) if isinstance(values, torch.Tensor) else type(values).__name__
        raise ValueError(f"{name}: returned {shape}; expected a tensor of shape ({n},), one number per "
                         "example")


class EndpointRecorder:
    """``forward_fn`` for Captum that keeps what its first two calls of each ``attribute`` return.

    ``LayerIntegratedGradients.attribute`` runs the model on the inputs and on the baselines (to read the
    layer's two end values) before it runs the path: those two calls *are* ``F(x)`` and ``F(x')``. Keeping
    them makes completeness checkable without a forward pass of our own, and without Captum's
    ``return_convergence_delta``, which runs both again.
    """

    def __init__(self, forward_fn: ForwardFn):
        if not callable(forward_fn):
            raise TypeError(f"forward_fn: expected a function (input, *extra) -> (B,), got "
                            f"{type(forward_fn).__name__}")
        self.forward_fn, self.outputs = forward_fn, []

    def __call__(self, *args):
        value = self.forward_fn(*args)
        first = args[0] if args else None
        check_output(value, int(first.shape[0]) if hasattr(first, "shape") and first.dim() else 1)
        if len(self.outputs) < 2:
            self.outputs.append(value.detach() if isinstance(value, torch.Tensor) else value)
        return value


def integrate(forward_fn: ForwardFn, layer, inputs, baselines, extra: tuple, n_steps: int, method: str,
              tolerance: float | None, max_steps: int):
    """Captum's ``LayerIntegratedGradients`` on ``layer``, ``n_steps`` doubled until
    ``|δ| ≤ tolerance · |F(x) − F(x')|`` for every example.

    ``F(x)`` and ``F(x')`` are the outputs of Captum's own two end-point passes (:class:`EndpointRecorder`),
    so each integral costs its path and nothing else. Returns ``(attributions, δ (B,), relative error (B,),
    steps used, F(x) (B,), F(x') (B,))``; warns with the figure when ``max_steps`` is not enough.
    """
    import warnings

    from captum.attr import LayerIntegratedGradients

    check_steps(n_steps, method, tolerance, max_steps)
    while True:
        recorder = EndpointRecorder(forward_fn)
        lig = LayerIntegratedGradients(recorder, layer)
        attributions = lig.attribute(inputs, baselines=baselines, additional_forward_args=extra or None,
                                     n_steps=n_steps, method=method)
        if len(recorder.outputs) < 2:
            raise RuntimeError("Captum did not run the two end-point passes this code relies on")
        out_x, out_b = recorder.outputs  # (B,) each, checked as they were recorded
        change = out_x - out_b  # (B,): F(x) − F(x')
        summed = attributions.reshape(attributions.shape[0], -1).sum(-1)  # (B,): Σ over every other axis
        delta = summed - change.to(summed)  # completeness: Σ attribution − (F(x) − F(x'))
        error = delta.abs() / change.to(delta).abs().clamp(min=1e-12)  # (B,)
        if tolerance is None or float(error.max()) <= tolerance:
            return attributions, delta, error, n_steps, out_x, out_b
        if 2 * n_steps > max_steps:
            warnings.warn(f"integrated gradients: completeness error {100 * float(error.max()):.2f} % with "
                          f"{n_steps} steps is above the {100 * tolerance:g} % asked for "
                          f"(max_steps={max_steps})",
                          RuntimeWarning, stacklevel=3)
            return attributions, delta, error, n_steps, out_x, out_b
        n_steps *= 2


def check_comparison(attention, token_attributions, attention_attr, content):
    """The inputs of the lesson's ``compare_with_attention``, checked: raw attention ``(L, H, Q, K)``, IG per
    token ``(K,)``, attention attributions shaped like the attention, all finite, and a boolean ``content``
    ``(K,)`` with at least 3 tokens to rank. Returns them as ``(weights, ig, attr, content)`` numpy arrays;
    a ``ValueError`` naming the argument otherwise."""
    from attnviz.validate import check_attention, check_mask

    weights = check_attention(attention, "LHQK", name="attention", square=True)
    attr = to_numpy(attention_attr, "attention_attr")
    if attr.shape != weights.shape:
        raise ValueError(f"attention_attr: got shape {attr.shape}; expected {weights.shape} like attention")
    ig = to_numpy(token_attributions, "token_attributions")
    if ig.shape != (weights.shape[-1],):
        raise ValueError(f"token_attributions: got shape {ig.shape}; expected ({weights.shape[-1]},), one "
                         "value per token")
    for name, values in (("attention_attr", attr), ("token_attributions", ig)):
        if not np.isfinite(values).all():
            raise ValueError(f"{name}: contains NaN or Inf values")
    content = check_mask(content, weights.shape[-1], name="content")  # (K,) boolean
    if content is None or content.sum() < 3:
        raise ValueError(f"content: got {0 if content is None else int(content.sum())} content tokens; "
                         "expected at least 3 to rank")
    return weights, ig, attr, content


def twice(inputs):
    """The batch stacked on itself, ``(B, …)`` -> ``(2B, …)`` (tuples element by element)."""
    return tuple(twice(t) for t in inputs) if isinstance(inputs, tuple) else torch.cat([inputs, inputs])


def spearman(a, b) -> float:
    """Spearman's rank correlation of two vectors (NaN when either is constant)."""
    from scipy.stats import spearmanr

    x, y = to_numpy(a, "a").ravel(), to_numpy(b, "b").ravel()
    if x.shape != y.shape:
        raise ValueError(f"a, b: got {x.size} and {y.size} values; expected the same number")
    for name, values in (("a", x), ("b", y)):
        if not np.isfinite(values).all():
            raise ValueError(f"{name}: contains {int(np.size(values) - np.isfinite(values).sum())} NaN or Inf "
                             "values; a rank correlation needs finite numbers")
    if x.size < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan")
    return float(spearmanr(x, y)[0])
