"""Lesson 3.7 — Is the map telling the truth? Faithfulness against leave-one-out, and the randomisation check.

Every earlier lesson drew a map of "which tokens matter": raw attention per layer, rollout, attention
flow, gradient-weighted attention, integrated gradients. A map is *faithful* when it ranks the tokens the
way the model actually uses them. Two tests, both cheap enough to run on every map:

1. Agreement with leave-one-out (Abnar & Zuidema 2020, §4)
----------------------------------------------------------
Blank out one token — replace it with a fixed blank token, so the positions stay where they were — and
measure how much the output ``F`` drops::

    LOO_t = F(x) − F(x with token t blanked)

That is a direct, model-based answer to "how much did token t matter" (it has its own flaws: a token
can matter only together with another one, and the blanked input is off the training distribution).
For each example, take the row of each map that the output reads — the last position for a language
model's next-token prediction, the mean of all rows for a mean-pooled sentence embedding — and compute
Spearman's rank correlation with ``LOO`` over the content tokens; average over examples. Per layer for
the layered methods: raw attention of layer ``l``, rollout of layers ``1..l``, flow through layers
``1..l``, gradient-weighted rollout of layers ``1..l``.

Abnar & Zuidema's Table 1 (6-layer transformers on subject–verb agreement, blank-out as here) found raw
attention's correlation falling in the middle layers and never high, while rollout and flow *rise* with
depth to about 0.7 in the top layers. The lesson prints our own numbers next to that, and the caption
says whether they agree (on the course's models they do not).

2. The model-randomisation sanity check (Adebayo et al. 2018, "Sanity Checks for Saliency Maps")
----------------------------------------------------------------------------------------------
An explanation of *this* model must change when the model is replaced by a random one. Re-initialise the
weights top-down — last layer first, then the one below, cumulatively — and after each step measure the
rank correlation of each map with the map of the trained model; at the end the word embeddings are
re-initialised too. A method whose map barely moves is explaining the input (or the architecture), not
the learned function.

What to look for (the lesson prints its own measurements)
---------------------------------------------------------
MiniLM, ``F`` = cosine similarity to a reference sentence, six sentence pairs, ``[MASK]`` as the blank:
does raw attention behave as in Abnar & Zuidema's Table 1, and do rollout and flow rise with depth? On the
course's MiniLM they do not: the figure's caption quotes the measured range, with one standard error over
the six pairs — six examples are few, and the bars say how few. One reason is visible in rollout itself.
It is tempting to think that the residual term of ``0.5·A + 0.5·I`` lets every token keep a large share of
itself, so that the mean row stays close to uniform; it does not. The product of those matrices drains the
diagonal layer after layer — by the last layer a word keeps *less* of itself than a uniform row would
give it — and most of the mass flows to ``[CLS]`` and ``[SEP]``, which are not scored. A mean-pooled
embedding reads the *mean* of all rows, and in that mean row the words share what is left in small, similar
amounts, so the ranking rollout offers is a ranking of small differences, unrelated to what the similarity
depends on. (The lesson prints the diagonal per layer, the uniform level and the special tokens' share;
its tests assert the direction on the default inputs.) Abnar & Zuidema explained a classifier's ``[CLS]``
row on the task the model was trained for. Compare with the methods that use the output's
gradient (gradient-weighted rollout, integrated gradients), and read the top-1 agreement (is the map's
first token the one whose blanking changes ``F`` most?) next to Spearman's ρ.

Tiny GPT-2, ``F`` = logit of the token the induction circuit should copy, eight sequences, ``<unk>``
blank. Leave-one-out is *sparse* here: blanking the answer's earlier occurrence, the current token or the
token before the answer changes the logit a lot, everything else by ≈ 0. Spearman over all tokens is
then mostly the ranking of noise, so read it together with top-1: a last-layer induction head can point
at exactly the right token and still score a low ρ, because it is ≈ 0 everywhere else and ρ punishes it
for not ranking the noise.

The randomisation check on MiniLM: a method whose map stays near ρ = 1 while the top blocks are
replaced mostly shows the residual identity and the first layers — a failed sanity check for everything
above. Integrated gradients inherit the structure of the input embeddings through ``(x − x') · ∫∇F`` —
the weakness Adebayo et al. found for gradient × input — so watch what happens when the embeddings are
re-initialised last.

Both answers depend on the model, the task, the blank token and the examples; they are measurements,
not verdicts. "Attention is not explanation" (Jain & Wallace 2019) and "Attention is not not explanation"
(Wiegreffe & Pinter 2019) are the two sides of that debate; this lesson gives you the instruments.

Methods come from the lessons that teach them: raw attention (``beginner.attention_basics``), rollout
(``intermediate.attention_rollout``), flow (``advanced.attention_flow``), gradient-weighted attention
(``advanced.gradient_attention``), integrated gradients (``advanced.integrated_attention``). The examples —
an input, its ``F``, the tokens blanked and scored — are built in ``attnviz/faithfulness_data.py``; the
figures, the captions written from the numbers measured here, the CSV table and the command-line options
live in ``attnviz/faithfulness_figures.py``.

Run it
------
    python 03_advanced/attention_faithfulness.py
    python 03_advanced/attention_faithfulness.py --skip-randomisation

Usage from Python::

    from advanced.attention_faithfulness import minilm_examples, method_rows, leave_one_out, faithfulness
    examples = minilm_examples(model, tokenizer)
    scores = faithfulness(model, examples)        # {method: (L,) or (1,) mean Spearman}
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence

import numpy as np
import torch

from advanced.attention_flow import AttentionFlow
from advanced.gradient_attention import chefer_relevance, relevance_row
from advanced.integrated_attention import blank_baseline, embedding_attributions
from attnviz import faithfulness_figures as figures
from attnviz.attribution import spearman
from attnviz.cli import lesson_parser, run_lesson
from attnviz.extract import transformer_attentions
from attnviz.faithfulness_data import (  # noqa: F401 (SENTENCE_PAIRS: importers find it here)
    SENTENCE_PAIRS,
    Example,
    gpt2_examples,
    minilm_examples,
)
from attnviz.faithfulness_figures import (  # noqa: F401 (importers find them here)
    LAYERED,
    METHODS,
    check_methods,
    standard_error,
)
from attnviz.gradients import attention_gradients
from attnviz.normalize import output_row
from attnviz.outputs import LessonOutputs
from attnviz.validate import to_numpy
from intermediate.attention_rollout import AttentionRollout


# ============================================================================ 1. leave-one-out
def leave_one_out(model, example: Example) -> np.ndarray:
    """``LOO_t = F(x) − F(x with token t blanked)`` for every content token; NaN elsewhere. ``(T,)``."""
    ids = example.input_ids  # (1, T)
    positions = np.flatnonzero(example.content)
    if positions.size == 0:
        raise ValueError("example.content: no token is marked for scoring")
    blanked = ids.repeat(positions.size, 1)  # (n, T): one copy per blanked token
    blanked[torch.arange(positions.size), torch.as_tensor(positions)] = example.blank_id
    extra = tuple(e.expand(positions.size, *e.shape[1:]) for e in example.extra)
    forward = example.forward_fn(model)
    with torch.no_grad():
        full = forward(ids, *example.extra)  # (1,)
        dropped = forward(blanked, *extra)  # (n,)
    out = np.full(ids.shape[1], np.nan)
    out[positions] = (full - dropped).cpu().numpy()
    return out


# ============================================================================ 2. every method's row
def method_rows(model, example: Example, *, ig_steps: int = 16, methods: Sequence[str] | None = None,
                final_only: bool = False) -> dict:
    """Each method's attribution of the output to every token.

    Returns ``{name: (L, T)}`` for the layered methods (row ``l`` = the map up to layer ``l``) and
    ``{name: (1, T)}`` for integrated gradients; with ``final_only`` every entry is ``(1, T)``, the full
    depth.
    """
    wanted = check_methods(methods)
    rows: dict[str, np.ndarray] = {}
    forward = example.forward_fn(model)
    with torch.no_grad():  # output_attentions: every family's own eager weights (Bloom, DeBERTa-v2 too)
        weights = transformer_attentions(model, example.inputs_for(model))[:, 0].double().cpu().numpy()
        # (L, B, H, Q, K) -> (L, H, Q, K)
    row = example.row
    if "raw attention" in wanted:
        rows["raw attention"] = output_row(weights.mean(1), row)  # (L, K): head mean, layer by layer
    if "rollout" in wanted:
        rows["rollout"] = output_row(AttentionRollout().rollout_by_layer(weights), row)  # (L, K)
    if "flow" in wanted:
        flow = AttentionFlow()
        depths = [weights.shape[0]] if final_only else range(1, weights.shape[0] + 1)
        if isinstance(row, int | np.integer):  # one output position: only its row of the flow is solved
            rows["flow"] = np.stack([flow.compute_flow(weights[:depth], rows=[row])[0] for depth in depths])
        else:
            rows["flow"] = np.stack([output_row(flow.compute_flow(weights[:depth]), row)
                                     for depth in depths])  # (L, K): flow through layers 1..l
    if "gradient-weighted" in wanted:
        inputs = example.inputs_for(model)
        attention, grads = attention_gradients(model, inputs, example.target)  # (L, B, H, Q, K) each
        relevance = chefer_relevance(attention[:, 0], grads[:, 0], cumulative=True)  # (L, Q, K): R per layer
        rows["gradient-weighted"] = np.stack([_relevance_row(r, row) for r in relevance])  # (L, K)
    if final_only:
        rows = {name: values[-1:] for name, values in rows.items()}  # (1, K): the full depth
    if "integrated gradients" in wanted:
        baseline = blank_baseline(example.input_ids, example.blank_id, keep_ids=_kept_ids(example))
        ig = embedding_attributions(model, forward, example.input_ids, baseline, extra=example.extra,
                                    n_steps=ig_steps)
        rows["integrated gradients"] = ig["tokens"][:1]  # (1, T)
    return rows


def _relevance_row(relevance: np.ndarray, row) -> np.ndarray:
    """Chefer relevance of the row(s) ``F`` reads, without the identity every token starts with."""
    if isinstance(row, int | np.integer):
        return relevance_row(relevance, int(row))
    return relevance_row(relevance, "mean", attention_mask=np.asarray(row, dtype=int))


def _kept_ids(example: Example) -> list[int]:
    """The ids that are not scored (special tokens) keep their value in the IG baseline too."""
    ids = example.input_ids[0].numpy()
    return sorted(set(ids[~example.content].tolist()))


def faithfulness(model, examples: Sequence[Example], *, ig_steps: int = 16, methods=None) -> dict:
    """Agreement of each method's row with leave-one-out over the content tokens, averaged over examples.

    Two measures: Spearman's ρ over all content tokens, and top-1 agreement (the token the map ranks first
    is the token whose blanking changes ``F`` most) — the second matters when only one or two tokens
    matter and the ranks of the rest are noise.

    Returns ``{"scores": {name: (L,) or (1,)}, "top1": {name: same}, "per_example": {name: (n, L) or (n, 1)},
    "top1_per_example": {name: (n, L) or (n, 1)}, "loo": [(T,) ...]}``.
    """
    check_methods(methods)
    if not examples:
        raise ValueError("examples: got none; expected at least one Example")
    rhos: dict[str, list] = {}
    hits: dict[str, list] = {}
    loos = []
    for example in examples:
        loo = leave_one_out(model, example)
        loos.append(loo)
        content = example.content
        best = int(np.argmax(np.abs(loo[content])))  # the token that matters most (by the size of the change)
        for name, values in method_rows(model, example, ig_steps=ig_steps, methods=methods).items():
            rhos.setdefault(name, []).append([spearman(v[content], loo[content]) for v in values])
            hits.setdefault(name, []).append([float(np.argmax(v[content]) == best) for v in values])
    per_example = {name: np.asarray(v) for name, v in rhos.items()}
    return {"scores": {name: np.nanmean(v, axis=0) for name, v in per_example.items()},
            "top1": {name: np.mean(v, axis=0) for name, v in hits.items()},
            "per_example": per_example, "top1_per_example": {name: np.asarray(v) for name, v in hits.items()},
            "loo": loos}


def score_attribution(model, attribute: Callable, examples: Sequence[Example]) -> float:
    """The faithfulness score of any attribution function ``attribute(model, example) -> (T,)``: mean Spearman
    with leave-one-out over the content tokens (what exercise A5 is graded on)."""
    scores = []
    for example in examples:
        values = to_numpy(attribute(model, example), "attribution")
        if values.shape != (example.input_ids.shape[1],):
            raise ValueError(f"attribution: got shape {values.shape}; expected "
                             f"({example.input_ids.shape[1]},), one value per token")
        loo = leave_one_out(model, example)
        scores.append(spearman(values[example.content], loo[example.content]))
    return float(np.nanmean(scores))


# ==================================================================== 3. model randomisation (Adebayo et al.)
def layer_stack(model) -> list[torch.nn.Module]:
    """The transformer blocks of a model, first to last: the longest ``ModuleList`` whose every entry holds an
    attention module (BERT's ``encoder.layer``, GPT-2's ``transformer.h``, DistilBERT's ``transformer.layer``,
    Llama's ``model.layers``, ...), found by structure rather than by name.

    ALBERT shares weights across layers: its 12 layers call the *same* block 12 times (one block per group in
    ``albert_layer_groups``). Re-initialising "the top k layers" alone is impossible there; the stack returned
    is the distinct blocks (one for the usual single group), and re-initialising it replaces every layer.
    """
    def has_attention(module: torch.nn.Module) -> bool:
        return any("attention" in type(m).__name__.lower() for m in module.modules())

    best: list[torch.nn.Module] = []
    for _, module in model.named_modules():
        if isinstance(module, torch.nn.ModuleList) and len(module) > len(best) \
                and all(has_attention(block) for block in module):
            best = list(module)
    if not best:
        raise TypeError(f"model: cannot find the transformer blocks of {type(model).__name__} (no list of "
                        "modules that each hold an attention module)")
    return best


def shares_blocks(model) -> bool:
    """Whether the model calls the same block for several layers (ALBERT): fewer blocks than layers."""
    layers = getattr(model.config, "num_hidden_layers", None)
    return isinstance(layers, int) and len(layer_stack(model)) < layers


def randomise_top_down(model, n_layers: int, *, embeddings: bool = False, seed: int = 0):
    """A copy of ``model`` whose top ``n_layers`` blocks (and, with ``embeddings``, the input embeddings) are
    re-initialised with the model's own initialiser; the original is left untouched."""
    blocks = layer_stack(model)
    valid = isinstance(n_layers, int | np.integer) and not isinstance(n_layers, bool)
    if not valid or not 0 <= n_layers <= len(blocks):
        raise ValueError(f"n_layers: got {n_layers!r}; the model has {len(blocks)} blocks (0..{len(blocks)})")
    randomised = copy.deepcopy(model)
    torch.manual_seed(seed)
    chosen = layer_stack(randomised)[len(blocks) - n_layers:]
    if embeddings:
        chosen.append(randomised.get_input_embeddings())
    for block in chosen:
        for module in block.modules():
            randomised._init_weights(module)
    return randomised.eval()


def randomisation_check(model, examples: Sequence[Example], *, ig_steps: int = 16, seed: int = 0,
                        methods: Sequence[str] | None = None) -> dict:
    """Cascading randomisation: Spearman of each method's full-depth row with the trained model's, after
    re-initialising the top 0, 1, …, L blocks and finally the word embeddings too.

    Returns ``{name: (L + 2,)}``, the mean over ``examples``.
    """
    check_methods(methods)
    n_blocks = len(layer_stack(model))
    originals = [method_rows(model, e, ig_steps=ig_steps, methods=methods, final_only=True) for e in examples]
    out: dict[str, list] = {}
    for k in range(n_blocks + 2):
        randomised = model if k == 0 else randomise_top_down(model, min(k, n_blocks), embeddings=k > n_blocks,
                                                             seed=seed)
        values: dict[str, list] = {}
        for example, original in zip(examples, originals):
            for name, rows in method_rows(randomised, example, ig_steps=ig_steps, methods=methods,
                                          final_only=True).items():
                content = example.content
                values.setdefault(name, []).append(spearman(rows[-1][content], original[name][-1][content]))
        for name, v in values.items():
            out.setdefault(name, []).append(float(np.nanmean(v)))
    return {name: np.asarray(v) for name, v in out.items()}


# ============================================================================ 4. the lesson
def rollout_mixing(model, examples: Sequence[Example]) -> dict:
    """What rollout leaves for a mean-pooled readout to rank, averaged over ``examples``.

    Returns ``{"diagonal": (L,), "uniform": float, "unscored_share": float}``: the mean diagonal of rollout
    through layers ``1..l`` over the scored (content) tokens — how much of itself a word keeps — the mean
    ``1/n`` of a uniform row, and the share of the final mean row on the tokens that are not scored
    (``[CLS]``, ``[SEP]``).
    """
    if not examples:
        raise ValueError("examples: got none; expected at least one Example")
    diagonals, uniform, shares = [], [], []
    for example in examples:
        with torch.no_grad():
            weights = transformer_attentions(model, example.inputs_for(model))[:, 0].double().cpu().numpy()
        rollout = AttentionRollout().rollout_by_layer(weights)  # (L, Q, K): layers 1..l
        content = np.asarray(example.content, dtype=bool)  # (T,)
        diagonals.append(np.diagonal(rollout, axis1=1, axis2=2)[:, content].mean(1))  # (L,)
        uniform.append(1.0 / rollout.shape[-1])
        shares.append(float(output_row(rollout[-1], example.row)[~content].sum()))
    return {"diagonal": np.mean(diagonals, axis=0), "uniform": float(np.mean(uniform)),
            "unscored_share": float(np.mean(shares))}


def _minilm_demo(out, args, encoder):
    """MiniLM: similarity to a reference sentence, mean-pooled rows, ``[MASK]`` blank."""
    pairs = SENTENCE_PAIRS if args.text is None else [(text, args.reference) for text in args.text]
    examples = minilm_examples(encoder.model, encoder.tokenizer, pairs)
    result = faithfulness(encoder.model, examples, ig_steps=args.ig_steps)
    mixing = rollout_mixing(encoder.model, examples)
    figures.print_report(encoder.name, result)
    diagonal = np.array2string(mixing["diagonal"], precision=3)
    print(f"rollout's diagonal over the words, layers 1..l: {diagonal} (uniform {mixing['uniform']:.3f}); "
          f"{mixing['unscored_share']:.0%} of the final mean row on special tokens")
    fig = figures.faithfulness_figure(result, f"{encoder.name}: agreement with leave-one-out "
                                      f"({len(examples)} sentence pairs)")
    caption = figures.encoder_caption(result, mixing, len(examples))
    out.save_figure(fig, "encoder_faithfulness", f"{encoder.name}, {caption}")
    return examples, figures.results_table(result, encoder.name)


SPARSE = 0.1  # a token "matters" when blanking it changes F by at least this fraction of the largest change


def tokens_that_matter(loos: Sequence[np.ndarray]) -> np.ndarray:
    """Per example, how many scored tokens change ``F`` by at least :data:`SPARSE` of the largest change."""
    counts = []
    for loo in loos:
        change = np.abs(np.asarray(loo, dtype=float)[np.isfinite(loo)])
        counts.append(int(np.sum(change >= SPARSE * change.max())) if change.size and change.max() > 0 else 0)
    return np.asarray(counts)


def _gpt2_demo(out, args, gpt):
    """Tiny GPT-2: the logit of the token the induction head should copy, last row, ``<unk>`` blank."""
    examples = gpt2_examples(gpt.tokenizer)
    result = faithfulness(gpt.model, examples, ig_steps=args.ig_steps)
    figures.print_report(gpt.name, result)
    fig = figures.faithfulness_figure(result, f"{gpt.name}: agreement with leave-one-out "
                                      f"({len(examples)} repeated sequences)")
    caption = figures.gpt2_caption(result, len(examples), tokens_that_matter(result["loo"]), SPARSE)
    out.save_figure(fig, "gpt2_faithfulness", f"{gpt.name}, {caption}")
    return figures.results_table(result, gpt.name)


def _randomisation_demo(out, args, encoder, examples):
    """The sanity check: cascading randomisation of MiniLM, top block first."""
    curves = randomisation_check(encoder.model, examples[:2], ig_steps=args.ig_steps)
    n_blocks = len(layer_stack(encoder.model))
    for name, values in curves.items():
        print(f"randomisation, {name:>22}: ρ with the trained map {np.array2string(values, precision=2)}")
    title = f"{encoder.name}: does the map notice a random model?"
    fig = figures.randomisation_figure(curves, n_blocks, title)
    n_layers = encoder.model.config.num_hidden_layers
    shared = (f" {encoder.name} shares its weights across layers: its {n_layers} layers use {n_blocks} "
              "distinct block(s), so each step re-initialises every layer that uses it."
              if shares_blocks(encoder.model) else "")
    out.save_figure(fig, "randomisation_check",
                    figures.randomisation_caption(curves, n_blocks, min(len(examples), 2), shared))


def main(argv=None):
    parser = lesson_parser(__doc__, model_kind=None)
    figures.add_arguments(parser, default_reference=SENTENCE_PAIRS[0][1])
    args = parser.parse_args(argv)
    if args.ig_steps < 1:
        raise ValueError(f"--ig-steps: got {args.ig_steps}; expected at least 1")
    out = LessonOutputs(__file__, args.out)
    torch.manual_seed(0)
    torch.set_num_threads(1)  # tiny models: one thread is as fast, and a busy second core cannot stall it
    import pandas as pd

    from attnviz.models import load_model, require_kind

    # A model that cannot load, or of the wrong kind: one line naming its option, before any work.
    require_kind(args.encoder, "encoder", option="--model")
    require_kind(args.causal_model, "causal-lm", option="--causal-model")
    encoder = load_model(args.encoder, kind="encoder", device=args.device, option="--model")
    examples, minilm_table = _minilm_demo(out, args, encoder)
    gpt = load_model(args.causal_model, kind="causal-lm", device=args.device, option="--causal-model")
    gpt_table = _gpt2_demo(out, args, gpt)
    pd.concat([minilm_table, gpt_table], ignore_index=True).to_csv(out.path("faithfulness.csv"), index=False)
    out.register("faithfulness.csv", "Mean Spearman correlation with leave-one-out, per model, method and "
                 "layer.")
    if not args.skip_randomisation:
        _randomisation_demo(out, args, encoder, examples)


if __name__ == "__main__":
    raise SystemExit(run_lesson(main))
