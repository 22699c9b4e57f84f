"""Lesson 3.6 — Integrated gradients: credit for the input tokens, and credit for the attention weights.

Integrated gradients (Sundararajan, Taly & Yan 2017)
----------------------------------------------------
A gradient says how the output ``F`` would move for a tiny change of the input; it says nothing about
how much the input *as a whole* contributed (a saturated input has gradient ≈ 0 yet matters). Integrated
gradients (IG) walk from a *baseline* ``x'`` (an input that carries no information) to the real ``x`` in a
straight line and add up the gradients along the way::

    IG_i(x) = (x_i − x'_i) · ∫₀¹ ∂F(x' + α (x − x')) / ∂x_i  dα

Its defining property is **completeness**: the attributions add up to the change of the output,
``Σ_i IG_i(x) = F(x) − F(x')`` — so the numbers have units ("this token adds 0.12 to the similarity"), and
the sum is a check that the integral was approximated well enough. Captum's ``return_convergence_delta``
is exactly that check: ``δ = Σ_i IG_i − (F(x) − F(x'))``. This lesson keeps ``|δ|`` under 1 % of
``|F(x) − F(x')|``: it starts from ``--steps`` and doubles them until the check holds (a warning gives the
figure if 512 steps are not enough), and it shows how many steps that takes with the Gauss–Legendre rule
against the Riemann sum. A fixed step count cannot promise an accuracy: the steps needed depend on how
curved ``F`` is along the path, which differs from input to input. ``F(x)`` and ``F(x')`` need no pass of
their own — Captum's ``LayerIntegratedGradients`` already runs the model on both ends to read the layer's
end values, and the lesson keeps those outputs.

Tokens are integers, so the path runs through the *embeddings*: Captum's ``LayerIntegratedGradients`` on
the word-embedding layer runs the model on the baseline ids and on the real ids, interpolates that
layer's output between the two, and sums each token's attribution over the embedding dimension. The
baseline here replaces every word by one blank token (``[MASK]`` for MiniLM) and keeps the special tokens,
so special tokens get exactly zero. The choice of baseline is part of the answer: another blank gives
other numbers (Sturmfels, Lundberg & Lee 2020, "Visualizing the Impact of Feature Attribution Baselines").

Attention attribution (Hao, Dong, Wei & Xu 2021, "Self-Attention Attribution")
------------------------------------------------------------------------------
The same integral, taken over the attention probabilities of one layer instead of the input: scale that
layer's attention matrices from 0 to their real value, ``α·A``, keep everything else as it is, and
integrate the gradient::

    Attr(A_h) = A_h ⊙ ∫₀¹ ∂F(α·A) / ∂A_h  dα            (for every head h of the layer; (Q, K) each)

An entry is large when the output depends on *that* weight — large weights that the output ignores get
little attribution, which is exactly what raw attention cannot tell. Completeness holds per layer:
``Σ Attr = F(A) − F(0·A)``.

No hand-written integral: ``LayerIntegratedGradients`` on a layer interpolates that layer's output between
its baseline value and its actual value — when the layer *outputs the attention probabilities* that path
is exactly ``α·A``. The layer is the :class:`~attnviz.probes.AttentionProbe` that
``attnviz/probes.py`` registers through ``transformers``' ``AttentionInterface``. Captum needs a
baseline *input*, not a baseline layer value, so the forward function takes one extra input, a per-example
scale: at 1 the probe passes ``A`` through, at 0 it outputs zeros — which makes Captum's baseline for the
probe ``0·A``, and its path ``α·A``.

Do they agree with attention?
-----------------------------
Raw attention says where a query *looked*; IG and attention attribution say what the *output* depended
on. The lesson computes Spearman's rank correlation between them, per layer, over the content tokens
(special tokens are excluded: IG gives them 0 by construction, attention loves them as a resting place):
IG against each layer's raw attention row and against rollout (``02_intermediate/attention_rollout.py``),
and each layer's attention attribution against that layer's raw attention.

What to look for
----------------
The lesson prints ``F(x)`` and ``F(x')``, the completeness error of each integral and the steps it took,
and the rank correlations. Look for which words IG credits with the rise of the similarity (the ones the
reference paraphrases?), for the layer that carries the most attention attribution and whether its raw
attention rests on ``[CLS]`` meanwhile, and for how much the correlations swing between layers. One
sentence is an anecdote — ``attention_faithfulness.py`` measures the same questions on many inputs
against leave-one-out.

The figures and the wording of their captions are drawn by ``attnviz/attribution_figures.py`` from the
numbers measured here; Captum's integral, the targets ``F`` and the input checks live in
``attnviz/attribution.py``.

Run it
------
    python 03_advanced/integrated_attention.py
    python 03_advanced/integrated_attention.py --text "A man plays a guitar." --reference "Music is played."

Usage from Python::

    from advanced.integrated_attention import SentenceSimilarity, attention_attributions
    from advanced.integrated_attention import embedding_attributions
    target = SentenceSimilarity(model, tokenizer, "a reference sentence")         # F(ids, mask) -> (B,)
    ig = embedding_attributions(model, target, ids, baseline_ids, extra=(mask,))  # ig["tokens"]: (B, T)
    with AttentionProbes(model) as probes:
        attr = attention_attributions(target, probes.probes, ids, extra=(mask,))  # (L, B, H, Q, K) inside
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from attnviz import attribution_figures as figures
from attnviz.attribution import (  # noqa: F401 (METHODS, NextTokenLogProb: importers find them here)
    METHODS,
    ForwardFn,
    NextTokenLogProb,
    SentenceSimilarity,
    check_comparison,
    check_output,
    check_steps,
    integrate,
    integration_steps,
    spearman,
    token_ids,
    twice,
)
from attnviz.cli import lesson_parser, run_lesson
from attnviz.normalize import output_row
from attnviz.outputs import LessonOutputs
from attnviz.probes import AttentionProbe, AttentionProbes
from attnviz.validate import check_attention, check_mask, check_tokens, to_numpy
from intermediate.attention_rollout import AttentionRollout

DEFAULT_TEXT = "The cat sat on the mat because it was tired."
DEFAULT_REFERENCE = "A sleepy kitten is lying on a rug."


# ============================================================================ 1. IG on the token embeddings
def embedding_attributions(model, forward_fn: ForwardFn, input_ids, baseline_ids, *, extra: Sequence = (),
                           n_steps: int = 16, method: str = "gausslegendre", layer=None,
                           tolerance: float | None = 0.01, max_steps: int = 512) -> dict:
    """Integrated gradients of ``forward_fn`` with respect to the token embeddings (Captum).

    Args:
        model: the model whose input-embedding layer is interpolated (``model.get_input_embeddings()``,
            or pass ``layer``).
        forward_fn: ``forward_fn(input_ids, *extra) -> (B,)``.
        input_ids: ``(B, T)`` token ids; ``baseline_ids``: ``(B, T)`` or ``(1, T)`` ids of the baseline.
        extra: further tensors for ``forward_fn`` (the attention mask, target ids), repeated along the path.
        n_steps, method: Captum's integral approximation; ``n_steps`` is where the search starts.
        tolerance: double ``n_steps`` until the completeness error ``|δ| / |F(x) − F(x')|`` is at most this
            for every example (default 1 %), up to ``max_steps`` (then a warning gives the figure);
            ``None`` uses ``n_steps`` as given.

    Returns:
        ``{"tokens": (B, T) attribution per token (summed over the embedding), "embedding": (B, T, d),
        "output": F(x), "baseline_output": F(x'), "delta": (B,) Σ attribution − (F(x) − F(x')),
        "relative_error": (B,) |delta| / |F(x) − F(x')|, "n_steps": the steps used}`` as numpy arrays.
    """

    check_steps(n_steps, method, tolerance, max_steps)
    input_ids, baseline_ids = token_ids(input_ids, "input_ids"), token_ids(baseline_ids, "baseline_ids")
    if input_ids.dim() != 2 or input_ids.numel() == 0:
        raise ValueError(f"input_ids: got shape {tuple(input_ids.shape)}; expected (batch, tokens)")
    if baseline_ids.shape[-1] != input_ids.shape[-1] or baseline_ids.dim() != 2:
        raise ValueError(f"baseline_ids: got shape {tuple(baseline_ids.shape)}; expected "
                         f"{tuple(input_ids.shape)} or (1, tokens) — one baseline token for every input "
                         "token")
    extra = tuple(extra)
    baseline_ids = baseline_ids.expand_as(input_ids)  # (B, T)
    layer = model.get_input_embeddings() if layer is None else layer
    attributions, delta, error, used, out_x, out_b = integrate(
        forward_fn, layer, input_ids, baseline_ids, extra, n_steps, method, tolerance, max_steps)  # (B, T, d)

    def numpy(t):
        return t.detach().cpu().numpy()

    return {"tokens": numpy(attributions.sum(-1)), "embedding": numpy(attributions),  # (B, T), (B, T, d)
            "output": numpy(out_x), "baseline_output": numpy(out_b), "delta": numpy(delta),
            "relative_error": numpy(error), "n_steps": used}


def blank_baseline(input_ids, blank_id: int, keep_ids: Sequence[int] = ()) -> torch.Tensor:
    """The baseline ids: every token replaced by ``blank_id`` except those in ``keep_ids`` (special ones)."""
    ids = token_ids(input_ids, "input_ids")
    if isinstance(blank_id, bool) or not isinstance(blank_id, int | np.integer) or blank_id < 0:
        raise TypeError(f"blank_id: got {blank_id!r}; expected a token id (an integer >= 0), e.g. "
                        "tokenizer.mask_token_id")
    keep = torch.zeros_like(ids, dtype=torch.bool)
    for token in keep_ids:
        keep |= ids == int(token)
    return torch.where(keep, ids, torch.full_like(ids, int(blank_id)))


# ==================================================================== 2. attention attribution (Hao et al.)
def attention_attributions(forward_fn: ForwardFn, probes: Sequence[AttentionProbe], input_ids, *,
                           extra: Sequence = (), layers: Sequence[int] | None = None, n_steps: int = 20,
                           method: str = "gausslegendre", tolerance: float | None = 0.01,
                           max_steps: int = 512) -> dict:
    """Hao et al. (2021) attribution of every attention weight, ``A ⊙ ∫₀¹ ∂F(α·A)/∂A dα``, layer by layer.

    Args:
        forward_fn: ``forward_fn(input_ids, *extra) -> (B,)``; running it must pass through ``probes``.
        probes: the :class:`AttentionProbe` of each layer (``AttentionProbes(model).probes``), in order.
        input_ids: ``(B, T)`` (or any first input of ``forward_fn`` whose first axis is the batch).
        layers: which layers to attribute (default: all); each is integrated with the others left intact.
        n_steps, method: Captum's integral approximation (Hao et al. used a 20-step Riemann sum).
        tolerance, max_steps: as in :func:`embedding_attributions` (per layer).

    Returns:
        ``{"attributions": (L', B, H, Q, K), "delta": (L', B), "relative_error": (L', B), "layers": [...],
        "n_steps": [...]}`` where ``L'`` is the number of attributed layers; ``delta`` is Σ Attr − (F(A) −
        F(0·A)); ``n_steps`` the steps each layer's integral took.
    """

    check_steps(n_steps, method, tolerance, max_steps)
    probes = list(probes)
    if not probes or not all(isinstance(p, AttentionProbe) for p in probes):
        raise TypeError("probes: expected a non-empty list of AttentionProbe modules "
                        "(AttentionProbes(model).probes)")
    layers = list(range(len(probes))) if layers is None else [int(x) for x in layers]
    for layer in layers:
        if not 0 <= layer < len(probes):
            raise ValueError(f"layers: index {layer} is out of range; there are {len(probes)} layers")
    extra = tuple(extra)
    first = input_ids[0] if isinstance(input_ids, tuple) else torch.as_tensor(input_ids)
    n_batch, device = int(first.shape[0]), first.device
    results, deltas, errors, used_steps = [], [], [], []
    for layer in layers:
        probe = probes[layer]

        def scaled_forward(scale, ids, *rest, _probe=probe):
            _probe.scale = scale  # (B·steps,): 1 lets A through, 0 gives the baseline 0·A
            try:
                return forward_fn(ids, *rest)
            finally:
                _probe.scale = None

        ones, zeros = torch.ones(n_batch, device=device), torch.zeros(n_batch, device=device)
        attributions, delta, error, used, _, _ = integrate(  # (B, H, Q, K), (B,), (B,): path α·A, α ∈ [0, 1]
            scaled_forward, probe, ones, zeros, (input_ids, *extra), n_steps, method, tolerance, max_steps)
        used_steps.append(used)
        results.append(attributions.detach())
        deltas.append(delta.detach())
        errors.append(error.detach())
    return {"attributions": torch.stack(results).cpu().numpy(),  # (L', B, H, Q, K)
            "delta": torch.stack(deltas).cpu().numpy(), "relative_error": torch.stack(errors).cpu().numpy(),
            "layers": layers, "n_steps": used_steps}


# ======================================================================== 3. how they compare with attention
def target_row(matrix, row) -> np.ndarray:
    """The attribution a ``(…, Q, K)`` map gives to each key for the output: row ``row`` (an index), or the
    mean over the query rows in ``row`` (a boolean ``(Q,)`` mask, e.g. for mean pooling).

    Any finite ``(…, Q, K)`` array is accepted — attributions are signed and their rows do not sum to 1, so
    only NaN/Inf, a missing axis and an empty array are rejected (``ValueError`` naming ``matrix``).
    """
    arr = to_numpy(matrix, "matrix")
    if arr.size == 0 or arr.ndim < 2:
        raise ValueError(f"matrix: got shape {arr.shape}; expected a non-empty (…, query, key) array")
    if not np.isfinite(arr).all():
        raise ValueError(f"matrix: contains {int(arr.size - np.isfinite(arr).sum())} NaN or Inf values")
    return output_row(arr, row, name="matrix")


def compare_with_attention(attention, token_attributions, attention_attr, row, content) -> dict:
    """Rank correlations over the content tokens.

    Args:
        attention: raw attention ``(L, H, Q, K)`` of one example.
        token_attributions: IG per token ``(K,)``.
        attention_attr: Hao attributions ``(L, H, Q, K)`` of the same example.
        row: the query row the output reads (index) or a boolean ``(Q,)`` of the rows it averages.
        content: boolean ``(K,)`` of the tokens to compare (special tokens excluded).

    Returns:
        ``{"ig_vs_raw": (L,), "attr_vs_raw": (L,), "attr_vs_ig": (L,), "ig_vs_rollout": float,
        "attr_vs_rollout": float}`` — the last with the attribution summed over all layers.
    """
    weights, ig, attr, content = check_comparison(attention, token_attributions, attention_attr, content)
    raw_rows = target_row(weights.mean(1), row)  # (L, K): head mean, the output's row
    attr_rows = target_row(attr.sum(1), row)  # (L, K): Hao sums the heads
    rollout_row = target_row(AttentionRollout().compute_rollout(weights), row)  # (K,)
    n_layers = weights.shape[0]
    return {
        "ig_vs_raw": np.array([spearman(ig[content], raw_rows[i, content]) for i in range(n_layers)]),
        "attr_vs_raw": np.array([spearman(attr_rows[i, content], raw_rows[i, content])
                                 for i in range(n_layers)]),
        "attr_vs_ig": np.array([spearman(attr_rows[i, content], ig[content]) for i in range(n_layers)]),
        "ig_vs_rollout": spearman(ig[content], rollout_row[content]),
        "attr_vs_rollout": spearman(attr_rows.sum(0)[content], rollout_row[content]),
    }


# ============================================================================ 4. the lesson
def _setup(args):
    """The sentence encoder, the input and ``F`` = cosine similarity with the reference sentence."""
    from types import SimpleNamespace

    from attnviz.models import encode_texts, load_model

    loaded = load_model(args.model, kind="encoder", device=args.device)
    model, tokenizer = loaded.model, loaded.tokenizer
    inputs = encode_texts(tokenizer, args.text, model).to(loaded.device)  # warns if the text is truncated
    ids, mask = inputs["input_ids"], inputs["attention_mask"]  # (1, T)
    tokens = check_tokens(tokenizer.convert_ids_to_tokens(ids[0].tolist()), ids.shape[1])
    blank = tokenizer.mask_token_id if tokenizer.mask_token_id is not None else tokenizer.pad_token_id
    return SimpleNamespace(name=loaded.name, model=model, ids=ids, mask=mask, tokens=tokens,
                           target=SentenceSimilarity(model, tokenizer, args.reference),
                           baseline=blank_baseline(ids, blank, keep_ids=tokenizer.all_special_ids),  # (1, T)
                           content=~np.isin(ids[0].cpu().numpy(), tokenizer.all_special_ids))  # (T,)


COMPLETENESS_STEPS = (2, 4, 8, 16, 32)
COMPLETENESS_METHODS = ("gausslegendre", "riemann_right")


def completeness_runs(x, steps=COMPLETENESS_STEPS, methods=COMPLETENESS_METHODS, known=None) -> dict:
    """The completeness error of IG on the lesson's input at fixed step counts: ``{method: (n_steps,)}``.

    ``known``: ``{(method, steps): error}`` already measured (the lesson's main integral), not run again.
    """
    known = dict(known or {})

    def error(method, k):
        if (method, k) in known:
            return known[(method, k)]
        return embedding_attributions(x.model, x.target, x.ids, x.baseline, extra=(x.mask,), n_steps=k,
                                      method=method, tolerance=None)["relative_error"][0]

    return {m: np.array([error(m, k) for k in steps]) for m in methods}


def completeness_summary(steps, runs, tolerance: float = 0.01) -> dict:
    """What the completeness plot shows, as numbers: the first step count at which each method is within
    ``tolerance``, and the step counts at which Gauss–Legendre is *worse* than the right Riemann sum.

    ``runs``: ``{"gausslegendre": (n,), "riemann_right": (n,)}`` relative errors at ``steps`` ``(n,)``.
    Returns ``{"first_within": {method: steps or None}, "gl_worse_at": [steps], "caption": str}``.
    """
    steps = [int(k) for k in steps]
    runs = {m: to_numpy(e, f"runs[{m!r}]") for m, e in runs.items()}
    if set(runs) != set(COMPLETENESS_METHODS) or any(e.shape != (len(steps),) for e in runs.values()):
        raise ValueError(f"runs: expected {COMPLETENESS_METHODS}, one error per step count ({len(steps)})")
    gl, rr = runs["gausslegendre"], runs["riemann_right"]
    first = {m: next((k for k, e in zip(steps, errors) if e <= tolerance), None)
             for m, errors in runs.items()}
    worse = [k for k, g, r in zip(steps, gl, rr) if g > r]  # Gauss–Legendre the less accurate here
    return {"first_within": first, "gl_worse_at": worse,
            "caption": figures.completeness_caption(steps, runs, first, worse, tolerance)}


def _ig_demo(out, args, x) -> dict:
    """IG on the embeddings: the attribution per token, and completeness against the number of steps."""
    ig = embedding_attributions(x.model, x.target, x.ids, x.baseline, extra=(x.mask,), n_steps=args.steps)
    steps = list(COMPLETENESS_STEPS)
    known = {("gausslegendre", ig["n_steps"]): ig["relative_error"][0]}  # the integral just computed
    runs = completeness_runs(x, steps, known=known)  # completeness error at fixed step counts
    summary = completeness_summary(steps, runs)
    print(f"{x.name}: F(x) = {ig['output'][0]:.4f}, F(baseline) = {ig['baseline_output'][0]:.4f}; "
          f"Σ IG = {ig['tokens'][0].sum():.4f}; completeness error {100 * ig['relative_error'][0]:.3f} % "
          f"with {ig['n_steps']} Gauss–Legendre steps (started from {args.steps}, doubled until ≤ 1 %)")
    out.save_figure(figures.ig_tokens_figure(ig, x.tokens), "ig_tokens",
                    figures.ig_tokens_caption(args.reference, ig))
    out.save_figure(figures.completeness_figure(steps, runs), "ig_completeness", summary["caption"])
    return ig


def special_share(matrix, rows, special) -> float:
    """The share of ``|matrix|``'s mass, over the query ``rows`` (boolean ``(Q,)``), that lands on the
    ``special`` keys (boolean ``(K,)``): how much of a map goes to [CLS]/[SEP]."""
    arr = to_numpy(matrix, "matrix")
    if arr.ndim != 2 or arr.size == 0 or not np.isfinite(arr).all():
        raise ValueError(f"matrix: got shape {arr.shape}; expected a finite, non-empty (Q, K) map")
    rows, special = check_mask(rows, arr.shape[-2], name="rows"), np.asarray(special, dtype=bool)
    if special.shape != (arr.shape[-1],):
        raise ValueError(f"special: got shape {special.shape}; expected ({arr.shape[-1]},), one flag per key")
    mass = np.abs(arr[rows])  # (Q', K)
    total = mass.sum()
    return float(mass[:, special].sum() / total) if total > 0 else float("nan")


def attribution_layer_facts(weights, attr, rows, special) -> dict:
    """The numbers the attribution figures state: the layer whose weights carry the most |attribution|, the
    share of the negative attribution, and, in that layer, the share of attention and of |attribution| on
    the special tokens. ``weights``, ``attr``: ``(L, H, Q, K)``; ``rows`` ``(Q,)``, ``special`` ``(K,)``."""
    weights = check_attention(weights, "LHQK", name="weights", square=True)
    attr = to_numpy(attr, "attr")
    if attr.shape != weights.shape or not np.isfinite(attr).all():
        raise ValueError(f"attr: got shape {attr.shape}; expected finite attributions shaped {weights.shape}")
    summed = attr.sum(1)  # (L, Q, K): Hao et al. sum the heads
    layer = int(np.argmax(np.abs(summed).sum((1, 2))))
    return {"layer": layer, "negative_share": float(np.clip(-summed, 0, None).sum() / np.abs(summed).sum()),
            "attention_on_special": special_share(weights[layer].mean(0), rows, special),
            "attribution_on_special": special_share(summed[layer], rows, special)}


def _attention_attribution_demo(out, args, x):
    """Hao et al.'s attribution of every layer's attention weights, next to the raw weights."""
    with AttentionProbes(x.model) as probes:
        with torch.no_grad():
            x.target(x.ids, x.mask)
            weights = probes.attentions()[:, 0].cpu().numpy()  # (L, B, H, Q, K) -> (L, H, Q, K)
        hao = attention_attributions(x.target, probes.probes, x.ids, extra=(x.mask,),
                                     n_steps=args.attention_steps)
    attr = hao["attributions"][:, 0]  # (L, B, H, Q, K) -> (L, H, Q, K)
    print("attention attribution: completeness error per layer (%) "
          + " ".join(f"{100 * e:.4f}" for e in hao["relative_error"][:, 0])
          + f"; steps per layer {hao['n_steps']}")
    summed = attr.sum(1)  # (L, Q, K): Hao et al. sum the heads
    peak = np.abs(summed).max(axis=(1, 2), keepdims=True)  # (L, 1, 1)
    positive = np.clip(summed, 0, None) / np.where(peak > 0, peak, 1)  # (L, Q, K)
    rows = x.mask[0].cpu().numpy().astype(bool)  # (Q,): the real rows, which mean pooling averages
    facts = attribution_layer_facts(weights, attr, rows, ~x.content)
    fig = figures.attribution_grid_figure(weights.mean(1), positive, x.tokens)
    out.save_figure(fig, "attention_attribution_grid",
                    figures.attribution_grid_caption(facts["negative_share"]))
    layer = facts["layer"]
    fig = figures.attribution_layer_figure(weights[layer].mean(0), positive[layer], x.tokens, layer)
    out.save_figure(fig, "attention_attribution_layer", figures.attribution_layer_caption(facts))
    return weights, attr


def _agreement_demo(out, x, ig, weights, attr):
    """Rank correlations with raw attention and rollout, and four answers to "which tokens matter?"."""
    rows = x.mask[0].cpu().numpy().astype(bool)  # (Q,): all real rows, as mean pooling averages them
    table = compare_with_attention(weights, ig["tokens"][0], attr, rows, x.content)
    print(f"Spearman over content tokens: IG vs rollout {table['ig_vs_rollout']:+.2f}, attention attribution "
          f"(all layers) vs rollout {table['attr_vs_rollout']:+.2f}; IG vs raw per layer "
          f"{np.array2string(table['ig_vs_raw'], precision=2)}; attribution vs raw per layer "
          f"{np.array2string(table['attr_vs_raw'], precision=2)}")
    frame = figures.rank_correlation_table(table)  # one row per layer
    frame.round(4).to_csv(out.path("rank_correlations.csv"), index=False)
    out.register("rank_correlations.csv", figures.RANK_CORRELATIONS_CSV_CAPTION)
    out.save_figure(figures.rank_correlation_figure(frame, table), "rank_correlations",
                    figures.rank_correlation_caption(table))
    rollout_row = target_row(AttentionRollout().compute_rollout(weights), rows)  # (K,)
    series = {"raw attention, last layer": target_row(weights[-1].mean(0), rows), "rollout": rollout_row,
              "integrated gradients": ig["tokens"][0],
              "attention attribution, all layers": target_row(attr.sum((0, 1)), rows)}  # (K,) each
    series = {name: np.where(x.content, values, 0) for name, values in series.items()}  # specials set to 0
    out.save_figure(figures.four_answers_figure(series, x.tokens), "four_answers",
                    figures.FOUR_ANSWERS_CAPTION)


def main(argv=None):
    parser = lesson_parser(__doc__, text=DEFAULT_TEXT)
    parser.add_argument("--reference", default=DEFAULT_REFERENCE, help=f"the sentence F compares with "
                        f"(default: {DEFAULT_REFERENCE!r})")
    parser.add_argument("--steps", type=integration_steps, default=16, help="integration steps IG starts "
                        "from; doubled until completeness is within 1 %% (default: 16)")
    parser.add_argument("--attention-steps", type=integration_steps, default=10,
                        help="integration steps for attention attribution (default: 10)")
    args = parser.parse_args(argv)
    out = LessonOutputs(__file__, args.out)
    torch.manual_seed(0)
    torch.set_num_threads(1)  # tiny models: one thread is as fast, and a busy second core cannot stall it
    x = _setup(args)
    ig = _ig_demo(out, args, x)
    weights, attr = _attention_attribution_demo(out, args, x)
    _agreement_demo(out, x, ig, weights, attr)


if __name__ == "__main__":
    raise SystemExit(run_lesson(main))
