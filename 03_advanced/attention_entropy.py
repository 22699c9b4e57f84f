"""Lesson 3.5 — Attention entropy and head importance: which heads are sharp, which matter, and which can go.

Entropy: how spread out is one row?
-----------------------------------
Row ``q`` of an attention matrix is a probability distribution over the keys, so Shannon's entropy
measures how spread out it is::

    H(A[q]) = − Σ_k A[q, k] · log A[q, k]          (nats; 0 · log 0 = 0, the limit of p log p)

``H = 0`` when the query puts all its weight on one key (a *focused* head); ``H = log n`` when it spreads it
evenly over the ``n`` keys it is allowed to see (an *averaging* head). Two details decide whether the
number means anything:

* **Count only what the query could see.** Padding keys have weight 0 and add nothing, but padding
  *queries* still hold a distribution over the real keys — rows of noise. In a causal model query ``q``
  sees ``q + 1`` keys, so its entropy is at most ``log(q + 1)``: a late row *looks* more uncertain than an
  early one just because it has more keys. Averages are therefore taken over real query rows only, and
* **compare as a fraction of the maximum**, ``H(A[q]) / log n_q`` with ``n_q`` the number of keys query
  ``q`` may attend to — 0 is one key, 1 is uniform — so rows, sentences and models of different lengths
  become comparable. Rows with ``n_q = 1`` (the first token of a causal model) have no choice at all;
  their fraction is undefined and they are left out of it.

The per-row entropy and its fraction of ``log n_q`` come from ``02_intermediate/attention_comparison.py``
(``attention_entropy``, ``row_statistics``); this lesson pools them per head over many inputs, checks that
no weight sits where the query cannot see (``attnviz/attention_batch.py``), and asks what the numbers say
about the heads.

Head specialisation
-------------------
Voita et al. (2019, "Analyzing Multi-Head Self-Attention: Specialized Heads Do the Heavy Lifting, the Rest
Can Be Pruned") found that the heads a model really needs are *specialised*: confident (their mean
maximum weight, ``E_q max_k A[q, k]``, is high) and doing one recognisable job (previous token, a rare
word, a syntactic relation). Here a head counts as specialised when it is sharp (relative entropy low)
*and* consistent: its relative entropy hardly changes from one input to the next. A head that is sharp on
one sentence and flat on the next is input-dependent; a head near 1 everywhere is averaging.

Head importance (Michel et al. 2019)
------------------------------------
"Are Sixteen Heads Really Better than One?" gives every head ``h`` a gate ``ξ_h`` that multiplies its
output (``ξ_h = 1``: the model as trained, ``ξ_h = 0``: the head removed) and scores it by how much the loss
cares about that gate, at the trained model::

    I_h = E_x | ∂L(x) / ∂ξ_h |            at ξ = 1 (every head on)

averaged over examples, absolute *per example* (signs cancel otherwise), and then divided by the ℓ2 norm
of its layer's scores so that layers are comparable. Multiplying head ``h``'s *probabilities* by ``ξ_h`` is
the same as multiplying its output, because the output ``A_h V_h`` is linear in ``A_h`` — so the gate sits
on the attention probabilities, where we can reach it.

Reaching it in ``transformers`` 5, where ``head_mask`` is gone, takes eager attention re-implemented through
``AttentionInterface`` (and ``AttentionMaskInterface``, or no mask is built):
:class:`attnviz.probes.AttentionProbes` gates every head for the length of a ``with`` block. Families that
compute attention themselves (Bloom's ALiBi, DeBERTa-v2) get the same gates through hooks: on the dropout
their probabilities pass through, or on each head's slice of the output projection's input.

Pruning: the curve importance predicts, and the one we measure
---------------------------------------------------------------
Remove heads one at a time (set ``ξ_h = 0``), least important first, and measure the loss (tiny GPT-2)
or the accuracy (tiny ViT) on held-out data. A first-order Taylor expansion in ``ξ`` predicts that
curve from the same gradients: ``L(ξ) ≈ L(1) + Σ_h ∂L/∂ξ_h · (ξ_h − 1)``, i.e. removing a set ``S``
changes the loss by ``− Σ_{h∈S} ∂L/∂ξ_h``. The prediction is good while few heads are gone and fails as the
interactions between heads grow. Removing heads in a *random* order is the baseline that shows
whether the ranking knows anything. (:func:`attnviz.probes.pruning_curve` sets the gates and measures after
each removal.)

What to look for (the lesson prints its own measurements)
---------------------------------------------------------
* **MiniLM**: whether the first layer averages and the middle layers are sharpest, and single heads
  that put everything on one key in every sentence; how far the entropy would move if the padding rows
  were averaged in by mistake (the lesson prints the largest shift).
* **Tiny GPT-2**: whether importance picks out the induction circuit its model card describes (the
  previous-token head in layer 0 and the induction heads of layer 1), and how well it agrees with
  Voita's confidence (Spearman's ρ is printed). Pruning: redundant induction heads cover for each other,
  so the gradient of any one of them is ≈ 0 and the first-order prediction stays flat — until the last
  one goes and the loss jumps. A linear prediction cannot see that cliff; Michel et al. also found that,
  past a point, performance falls sharply as more heads go — use the scores to *rank* heads, not to add
  them up.
* **Tiny ViT**: accuracy with half of its heads removed, in importance order, in random orders and most
  important first. Another image classifier (``--vit-model``) was trained on other labels, so the shapes
  labels mean nothing to it: it is scored task-agnostically, against its own predictions with every head on
  (cross-entropy against them for importance, agreement with them as heads go).

Run it
------
    python 03_advanced/attention_entropy.py
    python 03_advanced/attention_entropy.py --random-orders 10

Where things live: the measurements are here; their captions, argument checks, command line and CSV are in
``attnviz/entropy_figures.py``, the figures in ``attnviz/head_figures.py``.

Usage from Python::

    from advanced.attention_entropy import head_entropy, head_importance
    from attnviz.probes import AttentionProbes
    rel = head_entropy(weights, attention_mask, relative=True)     # (L, H) fraction of log n
    with AttentionProbes(model) as probes:                          # every head gets a gate ξ_h = 1
        probes.set_head_mask(mask)                                  # (L, H) zeros remove heads
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable

import numpy as np
import torch
from scipy.stats import spearmanr

from attnviz import entropy_figures
from attnviz.attention_batch import as_attention_batch, check_visible, real_tokens
from attnviz.cli import run_lesson
from attnviz.entropy_figures import check_order, head_scores
from attnviz.head_figures import (
    entropy_by_position_figure,
    head_heatmap,
    pruning_figure,
    specialisation_figure,
)
from attnviz.models import load_model
from attnviz.outputs import LessonOutputs
from attnviz.probes import AttentionProbes, pruning_curve
from attnviz.tasks import (
    LossFn,
    device_of,
    examples_in,
    gpt2_batches,
    gpt2_loss,
    knows_the_shapes_task,
    mean_loss,
    to_device,
    vit_accuracy,
    vit_batches,
    vit_loss,
    with_own_predictions,
)
from intermediate.attention_comparison import attention_entropy, row_statistics

DEFAULT_TEXTS = ["The cat sat on the mat because it was tired.",
                 "Attention is not explanation, but it is a good place to start.",
                 "She gave him the book that he had asked for.",
                 "Heads that always look at the previous word are easy to spot."]


# ============================================================================ 1. entropy, masked
def head_entropy(attention, attention_mask=None, *, causal: bool = False, relative: bool = False,
                 per_example: bool = False) -> np.ndarray:
    """Mean entropy of each head over the real query rows.

    Args:
        attention: ``(H, Q, K)``, ``(L, H, Q, K)`` (one example) or ``(L, B, H, Q, K)`` (a padded batch).
        attention_mask: ``(K,)`` or ``(B, K)``; padding query rows are left out of the mean.
        causal: the model is decoder-only (query ``q`` sees ``q + 1`` keys).
        relative: return ``H / log n_q`` (0 = one key, 1 = uniform) instead of nats; rows with a
            single visible key are left out (their fraction is 0/0).
        per_example: keep the batch axis (a mean per example) instead of pooling all rows.

    Returns:
        ``(H,)``, ``(L, H)``, or with ``per_example`` ``(L, B, H)``.
    """
    arr, layout = as_attention_batch(attention)  # (L, B, H, Q, K)
    real = real_tokens(attention_mask, arr.shape[1], arr.shape[-1])  # (B, K)
    arr = drop_padding_rows(arr, real)  # (L, B, H, Q, K)
    check_visible(arr, real, causal)
    rows = row_statistics(arr, real.astype(int), causal=causal)  # per-row statistics of the comparison lesson
    values = rows["entropy_fraction" if relative else "entropy"]  # (L, B, H, Q), NaN: rows left out
    if np.isnan(values).all():
        raise ValueError("attention: no query row can be averaged (every row is padding or sees a single "
                         "key)")
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an example without a countable row gives NaN
        if per_example:
            return np.nanmean(values, axis=-1)  # (L, B, H)
        pooled = np.nanmean(values, axis=(1, 3))  # (L, H): every countable row of every example
    return pooled[0] if layout == "HQK" else pooled


def drop_padding_rows(arr: np.ndarray, real: np.ndarray) -> np.ndarray:
    """Padding *query* rows set to 0 (the course's convention for masked padding queries) ``(L, B, H, Q, K)``.

    No statistic reads them, but models leave different things there — BERT a distribution over the real
    keys, DeBERTa-v2 a uniform row over *every* key, padding included (it masks query and key alike) — and
    the check that no real query looks at padding keys must not trip over rows nobody uses.
    """
    return arr * real[None, :, None, :, None]  # (B, Q) -> (1, B, 1, Q, 1)


def head_confidence(attention, attention_mask=None) -> np.ndarray:
    """Voita et al.'s confidence: the mean over real query rows of the row's largest weight.

    Same inputs as :func:`head_entropy`; returns ``(H,)`` or ``(L, H)``.
    """
    arr, layout = as_attention_batch(attention)  # (L, B, H, Q, K)
    real = real_tokens(attention_mask, arr.shape[1], arr.shape[-1])  # (B, Q): self-attention, rows = tokens
    top = arr.max(-1)  # (L, B, H, Q)
    weights = np.broadcast_to(real[None, :, None, :], top.shape).astype(float)
    pooled = (top * weights).sum((1, 3)) / weights.sum((1, 3))  # (L, H)
    return pooled[0] if layout == "HQK" else pooled


def specialisation(relative_per_example: np.ndarray, sharp: float = 0.45, consistent: float = 0.1,
                   broad: float = 0.8) -> dict:
    """Label each head from its relative entropy on several inputs ``(L, B, H)``.

    Returns ``{"mean": (L, H), "spread": (L, H), "label": (L, H) strings}`` where ``spread`` is the standard
    deviation across inputs and the label is ``"specialised"`` (mean < ``sharp`` and spread < ``consistent``),
    ``"averaging"`` (mean > ``broad``), ``"input-dependent"`` (spread ≥ ``consistent``) or ``"mixed"``.
    """
    arr = head_scores(relative_per_example, "relative_per_example", 3, allow_nan=True)  # (L, B, H)
    finite = arr[np.isfinite(arr)]
    if finite.size == 0 or finite.min() < 0 or finite.max() > 1 + 1e-9:
        got = "no finite value" if finite.size == 0 else f"values in [{finite.min():.3g}, {finite.max():.3g}]"
        raise ValueError(f"relative_per_example: got {got}; expected relative entropies in [0, 1] (NaN where "
                         "an example has no countable row) from head_entropy(..., relative=True, "
                         "per_example=True)")
    mean, spread = np.nanmean(arr, axis=1), np.nanstd(arr, axis=1)  # (L, H)
    label = np.full(mean.shape, "mixed", dtype=object)
    label[spread >= consistent] = "input-dependent"
    label[(mean < sharp) & (spread < consistent)] = "specialised"
    label[mean > broad] = "averaging"
    return {"mean": mean, "spread": spread, "label": label}


# ============================================================================ 2. head importance and pruning

def head_importance(model, batches: Iterable[dict], loss_fn: LossFn, *, normalize: bool = True) -> dict:
    """Michel et al. (2019) head importance ``E_x |∂L(x)/∂ξ_h|`` at ``ξ = 1``.

    Args:
        model: a ``transformers`` model (any architecture whose attention uses ``AttentionInterface``).
        batches: an iterable of model-input dicts.
        loss_fn: ``loss_fn(model, batch) -> (B,)`` one loss per example (not their mean).
        normalize: divide each layer's scores by their ℓ2 norm (the paper's choice).

    Returns:
        ``{"importance": (L, H), "gradient": (L, H), "loss": float}`` — importance (normalised or not),
        the mean *signed* gradient ``E_x ∂L/∂ξ_h`` (what the Taylor prediction of pruning uses) and the
        mean loss.
    """
    total_abs, total_signed, total_loss, count = None, None, 0.0, 0
    with AttentionProbes(model) as probes:
        for batch in batches:
            n = examples_in(batch)
            gates = torch.ones(len(probes), n, probes.num_heads, device=device_of(batch),
                               requires_grad=True)  # (L, B, H): ξ per example
            probes.set_head_mask(gates)
            losses = loss_fn(model, batch)  # (B,)
            if losses.dim() != 1 or losses.shape[0] != n:
                raise ValueError(f"loss_fn: returned shape {tuple(losses.shape)}; expected ({n},), one loss "
                                 "per example")
            (grad,) = torch.autograd.grad(losses.sum(), gates)  # (L, B, H): per-example ∂L_b/∂ξ
            total_abs = grad.abs().sum(1) if total_abs is None else total_abs + grad.abs().sum(1)  # (L, H)
            total_signed = grad.sum(1) if total_signed is None else total_signed + grad.sum(1)
            total_loss += float(losses.detach().sum())
            count += n
    if count == 0:
        raise ValueError("batches: got no examples")
    importance = (total_abs / count).cpu().numpy()  # (L, H)
    if normalize:
        norms = np.linalg.norm(importance, axis=1, keepdims=True)  # (L, 1)
        importance = np.divide(importance, norms, out=np.zeros_like(importance), where=norms > 0)
    gradient = (total_signed / count).cpu().numpy()  # (L, H)
    return {"importance": importance, "gradient": gradient, "loss": total_loss / count}


def pruning_order(importance, strategy: str = "importance", seed: int = 0) -> np.ndarray:
    """The order ``(L·H, 2)`` of (layer, head) pairs to remove.

    ``"importance"``: least important first (Michel et al.); ``"reverse"``: most important first;
    ``"random"``: a seeded random permutation.
    """
    scores = head_scores(importance, "importance", 2)  # (L, H)
    flat = scores.ravel()
    if strategy == "importance":
        order = np.argsort(flat, kind="stable")
    elif strategy == "reverse":
        order = np.argsort(-flat, kind="stable")
    elif strategy == "random":
        order = np.random.default_rng(seed).permutation(flat.size)
    else:
        raise ValueError(f"strategy: got {strategy!r}; expected 'importance', 'reverse' or 'random'")
    return np.stack(np.unravel_index(order, scores.shape), axis=1)  # (L·H, 2)


def predicted_curve(base_loss: float, gradient, order) -> np.ndarray:
    """First-order Taylor prediction of the loss as heads are removed: ``L(1) − Σ_{h removed} ∂L/∂ξ_h``."""
    grad = head_scores(gradient, "gradient", 2)  # (L, H)
    if not isinstance(base_loss, int | float | np.number) or not np.isfinite(base_loss):
        raise ValueError(f"base_loss: got {base_loss!r}; expected a finite number, the loss with every head "
                         "on")
    order = check_order(order, grad.shape)
    removed = grad[order[:, 0], order[:, 1]]  # (n,)
    return base_loss - np.concatenate([[0.0], np.cumsum(removed)])  # (n + 1,)


# ============================================================================ 3. the lesson
def _encoder_demo(out, args):
    """MiniLM on a padded batch: entropy of every head, masked, as a fraction of ``log n_q``."""
    from beginner.attention_basics import AttentionModel

    encoder = AttentionModel(args.encoder, device=args.device)  # a padded batch; padding rows are dropped
    weights, mask, _ = encoder.get_batch_attention(DEFAULT_TEXTS)  # (L, B, H, Q, K), (B, T)
    nats = head_entropy(weights, mask)  # (L, H)
    relative = head_entropy(weights, mask, relative=True)  # (L, H)
    unmasked = attention_entropy(weights).mean((1, 3))  # (L, H): padding rows included — the mistake
    print(f"{encoder.name}: mean head entropy {nats.mean():.3f} nats = {relative.mean():.2f} of log n; "
          f"counting padding rows would shift it by {np.abs(unmasked - nats).max():.3f} nats at worst")
    fig = head_heatmap(relative, f"{encoder.name}: entropy / log n_q, mean over the real rows of "
                   f"{len(DEFAULT_TEXTS)} padded sentences",
                   "fraction of the maximum entropy (0 = one key, 1 = uniform)", 1.0)
    out.save_figure(fig, "encoder_entropy", entropy_figures.encoder_caption(relative))


def _causal_entropy_demo(out, gpt):
    """The tiny GPT-2: a causal row's entropy grows with position just because it sees more keys."""
    batches = to_device(gpt2_batches(), gpt.device)
    with AttentionProbes(gpt.model) as probes, torch.no_grad():
        gpt.model(**batches[0])
        causal_weights = probes.attentions().cpu().numpy()  # (L, B, H, Q, K)
    entropy = attention_entropy(causal_weights)  # (L, B, H, Q): nats per row
    rel_gpt = head_entropy(causal_weights, causal=True, relative=True)  # (L, H)
    sharpest = np.unravel_index(np.argmin(rel_gpt), rel_gpt.shape)
    broadest = np.unravel_index(np.argmax(rel_gpt), rel_gpt.shape)
    repeat = 1 + (entropy.shape[-1] - 1) // 2  # <bos>, half tokens, then the repeat
    title = f"{gpt.name}: a causal row can only be as uncertain as log(q + 1)"
    fig = entropy_by_position_figure(entropy, rel_gpt, ((broadest, "C1"), (sharpest, "C0")), title, repeat)
    growth = {head: entropy_growth(entropy, *head) for head in (broadest, sharpest)}
    out.save_figure(fig, "causal_entropy_by_position",
                    entropy_figures.causal_figure_caption(gpt.name, growth, broadest, sharpest))
    return batches, causal_weights, rel_gpt


def entropy_growth(entropy: np.ndarray, layer: int, head: int) -> tuple[float, float]:
    """Mean entropy (nats) of one head over the first and the last quarter of query positions (``q ≥ 1``),
    averaged over the batch; ``entropy`` is ``(L, B, H, Q)``."""
    by_position = entropy[layer, :, head].mean(0)[1:]  # (Q - 1,): q = 0 sees one key, entropy 0 for any head
    quarter = max(len(by_position) // 4, 1)
    return float(by_position[:quarter].mean()), float(by_position[-quarter:].mean())


def _importance_demo(out, gpt, batches, causal_weights, rel_gpt):
    """Michel et al. importance and Voita-style specialisation of every tiny-GPT-2 head."""
    scores = head_importance(gpt.model, batches, gpt2_loss)
    importance = scores["importance"]  # (L, H)
    per_example = head_entropy(causal_weights, causal=True, relative=True, per_example=True)  # (L, B, H)
    spec = specialisation(per_example)
    confidence = head_confidence(causal_weights)  # (L, H)
    rho_conf = spearmanr(confidence.ravel(), importance.ravel())[0]
    rho_ent = spearmanr(rel_gpt.ravel(), importance.ravel())[0]
    print(f"{gpt.name}: Spearman(importance, confidence) = {rho_conf:+.2f}, (importance, relative entropy) = "
          f"{rho_ent:+.2f}")
    fig = head_heatmap(importance, f"{gpt.name}: head importance E|∂L/∂ξ_h| (Michel et al.)",
                   "importance, ℓ2-normalised per layer", 1.0)
    out.save_figure(fig, "gpt2_head_importance", entropy_figures.IMPORTANCE_CAPTION)
    title = f"Specialised heads and importance (Spearman with confidence {rho_conf:+.2f})"
    fig = specialisation_figure(spec, importance, title)
    out.save_figure(fig, "gpt2_specialisation",
                    entropy_figures.specialisation_figure_caption(gpt.name, rho_ent, spec, importance))
    return scores, spec, confidence


def pruning_summary(measured: np.ndarray, predicted: np.ndarray) -> dict:
    """Where the measured loss first grows tenfold (the cliff), how many heads went before it almost for
    free, and what the first-order prediction says there. ``cliff`` is ``None`` when the loss never grows
    tenfold."""
    grown = np.flatnonzero(measured > 10 * measured[0])
    if grown.size == 0:
        return {"cliff": None, "free": len(measured) - 1}
    cliff = int(grown[0])
    return {"cliff": cliff, "free": cliff - 1, "measured": float(measured[cliff]),
            "predicted": float(predicted[cliff]), "sees_it": bool(predicted[cliff] > 10 * measured[0])}


def _pruning_curves(model, importance, evaluate, random_orders: int) -> dict:
    """``evaluate(model)`` after removing 0, 1, …, L·H heads, in three kinds of order."""
    return {"least important first (measured)": pruning_curve(model, pruning_order(importance), evaluate),
            "most important first (measured)": pruning_curve(model, pruning_order(importance, "reverse"),
                                                             evaluate),
            "random": np.stack([pruning_curve(model, pruning_order(importance, "random", seed=seed), evaluate)
                                for seed in range(random_orders)])}  # (orders, L·H + 1)


def _gpt2_pruning_demo(out, args, gpt, scores):
    """Remove the tiny GPT-2's heads: measured loss vs the first-order prediction vs random orders."""
    importance = scores["importance"]  # (L, H)
    n_heads, half = importance.size, importance.size // 2
    fresh = to_device(gpt2_batches(seed=2000), gpt.device)  # importance was measured on other sequences
    curves = _pruning_curves(gpt.model, importance, mean_loss(fresh, gpt2_loss), args.random_orders)
    randoms = curves.pop("random")
    measured, reverse = curves.values()
    predicted = predicted_curve(measured[0], scores["gradient"], pruning_order(importance))  # from L(1)
    print(f"{gpt.name} pruning, loss with {half}/{n_heads} heads removed: by importance {measured[half]:.3f} "
          f"(Taylor prediction {predicted[half]:.3f}), random {randoms[:, half].mean():.3f}, most important "
          f"first {reverse[half]:.3f}; intact {measured[0]:.3f}")
    fig = pruning_figure(f"{gpt.name}: loss as heads are removed", "loss on held-out repeated sequences "
                         "(nats, log scale)", curves, n_heads, predicted, randoms, log=True)
    summary = pruning_summary(measured, predicted)
    out.save_figure(fig, "gpt2_pruning_curve",
                    entropy_figures.gpt2_pruning_caption(gpt.name, args.random_orders, summary))
    return summary


def _vit_pruning_demo(out, args):
    """Remove the ViT's heads: accuracy in importance, reverse and random order. The tiny ViT is scored on its
    shapes task; any other image classifier (``--vit-model``) has labels of its own, so the target is its own
    prediction with every head on (the loss for importance, and agreement with it as heads go)."""
    vit = load_model(args.vit_model, kind="vit", device=args.device, option="--vit-model")
    test_set = to_device(vit_batches(vit.processor), vit.device)  # the shipped test set: pruning is measured
    fresh = to_device(vit_batches(vit.processor, 200, seed=4321), vit.device)  # importance: other images
    own_task = knows_the_shapes_task(vit.model)
    if not own_task:  # labels of another task: the model's own answers are the target
        test_set, fresh = with_own_predictions(vit.model, test_set), with_own_predictions(vit.model, fresh)
    importance = head_importance(vit.model, fresh, vit_loss)["importance"]  # (L, H)
    curves = _pruning_curves(vit.model, importance, vit_accuracy(test_set), args.random_orders)
    randoms = curves.pop("random")
    measured, reverse = curves.values()
    n_heads, half = importance.size, importance.size // 2
    score, ylabel, importance_on = entropy_figures.vit_texts(own_task)  # accuracy, or agreement with itself
    print(f"{vit.name} pruning, {score} with {half}/{n_heads} heads removed: by importance "
          f"{measured[half]:.2f}, random {randoms[:, half].mean():.2f}, most important first "
          f"{reverse[half]:.2f}; intact {measured[0]:.2f}")
    fig = pruning_figure(f"{vit.name}: {score} as heads are removed", ylabel, curves, n_heads, None,
                         randoms, chance=1 / vit.model.config.num_labels if own_task else None)
    out.save_figure(fig, "vit_pruning_curve", entropy_figures.vit_pruning_caption(
        vit.name, score, own_task, args.random_orders, measured, randoms, reverse))
    fig = head_heatmap(importance, f"{vit.name}: head importance", "importance, ℓ2-normalised per layer", 1.0)
    out.save_figure(fig, "vit_head_importance", f"Michel et al. head importance of {vit.name} "
                    f"(cross-entropy {importance_on}).")
    return {"measured": measured, "reverse": reverse, "random": randoms, "own_task": own_task}


def main(argv=None):
    args = entropy_figures.entropy_args(__doc__, argv)
    out = LessonOutputs(__file__, args.out)
    entropy_figures.check_models(args)  # a wrong model is refused in one line naming its option, before work
    torch.manual_seed(0)
    torch.set_num_threads(1)  # tiny models: one thread is as fast, and a busy second core cannot stall it
    _encoder_demo(out, args)
    gpt = load_model(args.causal_model, kind="causal-lm", device=args.device, option="--causal-model")
    batches, causal_weights, rel_gpt = _causal_entropy_demo(out, gpt)
    scores, spec, confidence = _importance_demo(out, gpt, batches, causal_weights, rel_gpt)
    _gpt2_pruning_demo(out, args, gpt, scores)
    _vit_pruning_demo(out, args)
    columns = {"entropy_nats": head_entropy(causal_weights, causal=True), "relative_entropy": rel_gpt,
               "confidence": confidence, "spread_across_inputs": spec["spread"],
               "specialisation": spec["label"], "importance": scores["importance"]}  # each (L, H)
    entropy_figures.write_heads_table(out, columns, scores["importance"].shape)  # gpt2_heads.csv


if __name__ == "__main__":
    raise SystemExit(run_lesson(main))
