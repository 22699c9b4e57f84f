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
depth to about 0.7 in the top layers. The lesson prints our own numbers next to that — see what the
course's models do; they need not agree.

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
does raw attention behave as in Abnar & Zuidema's Table 1, and do rollout and flow rise with depth? A
mean-pooled embedding reads the *mean* of all rows, and the mean row of a product of ``0.5·A + 0.5·I``
matrices is close to uniform (every token keeps a large share of itself), so what is left to rank may be
small and unrelated to what the similarity depends on — Abnar & Zuidema explained a classifier's
``[CLS]`` row on the task the model was trained for. Compare with the methods that use the output's
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
an input, its ``F``, the tokens blanked and scored — are built in ``attnviz/faithfulness_data.py``.

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
from attnviz.attribution import spearman
from attnviz.cli import lesson_parser, run_lesson
from attnviz.faithfulness_data import (  # noqa: F401 (SENTENCE_PAIRS: importers find it here)
    SENTENCE_PAIRS,
    Example,
    gpt2_examples,
    minilm_examples,
)
from attnviz.gradients import attention_gradients
from attnviz.normalize import output_row
from attnviz.outputs import LessonOutputs
from attnviz.probes import AttentionProbes
from attnviz.validate import to_numpy
from intermediate.attention_rollout import AttentionRollout

LAYERED = ("raw attention", "rollout", "flow", "gradient-weighted")
STYLES = {"raw attention": ("o", "-"), "rollout": ("s", "--"), "flow": ("^", "-."),
          "gradient-weighted": ("D", ":")}
ABNAR_ZUIDEMA = ("Abnar & Zuidema (2020), Table 1: raw attention's correlation with blank-out is low and "
                 "dips in the middle layers; rollout and flow rise with depth to about 0.7 in the top "
                 "layers.")


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
    wanted = set(methods or (*LAYERED, "integrated gradients"))
    rows: dict[str, np.ndarray] = {}
    forward = example.forward_fn(model)
    with AttentionProbes(model) as probes, torch.no_grad():
        forward(example.input_ids, *example.extra)
        weights = probes.attentions()[:, 0].double().cpu().numpy()  # (L, H, Q, K)
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
    "loo": [(T,) ...]}``.
    """
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
            "per_example": per_example, "loo": loos}


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
    """The transformer blocks of a BERT-, GPT-2- or ViT-style model, first to last."""
    for path in ("encoder.layer", "transformer.h", "vit.encoder.layer", "model.decoder.layers", "layers"):
        module = model
        try:
            for part in path.split("."):
                module = getattr(module, part)
        except AttributeError:
            continue
        if isinstance(module, torch.nn.ModuleList):
            return list(module)
    raise TypeError(f"model: cannot find the transformer blocks of {type(model).__name__}")


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
def _faithfulness_figure(result: dict, title: str):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11.5, 4.0), constrained_layout=True)
    for ax, key, ylabel, low in ((axes[0], "scores", "Spearman ρ with leave-one-out", -1.0),
                                 (axes[1], "top1", "top-1 agreement with leave-one-out", 0.0)):
        scores = result[key]
        n_layers = len(scores.get("raw attention", [0]))
        for name in LAYERED:
            if name in scores:  # distinct markers and dashes: equal curves stay visible on top of each other
                marker, dashes = STYLES[name]
                ax.plot(np.arange(1, len(scores[name]) + 1), scores[name], marker=marker, ls=dashes, ms=7,
                        mfc="none", label=name)
        for name, values in scores.items():
            if name not in LAYERED:
                ax.axhline(values[0], ls="--", color="k", lw=1, label=f"{name} (no layers)")
        ax.axhline(0, color="0.6", lw=0.6)
        ax.set_xticks(np.arange(1, n_layers + 1))
        ax.set_ylim(low - 0.03, 1.03)
        ax.set_xlabel("layer l (raw: layer l alone; the others: layers 1..l)")
        ax.set_ylabel(ylabel)
    axes[0].legend(fontsize=8)
    fig.suptitle(title)
    return fig


def _randomisation_figure(curves: dict, n_blocks: int, title: str):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.8, 4.0), constrained_layout=True)
    for name, values in curves.items():
        ax.plot(np.arange(n_blocks + 2), values, marker="o", label=name)
    labels = ["trained"] + [f"top {k}" for k in range(1, n_blocks + 1)] + ["+ embeddings"]
    ax.set_xticks(np.arange(n_blocks + 2), labels, rotation=30)
    ax.axhline(0, color="0.6", lw=0.6)
    ax.set_ylim(-1.05, 1.05)
    ax.set_xlabel("blocks re-initialised (from the top)")
    ax.set_ylabel("Spearman ρ with the trained model's map")
    ax.set_title(title)
    ax.legend(fontsize=8)
    return fig


def _table(result: dict, model_name: str):
    import pandas as pd

    rows = []
    for name, values in result["scores"].items():
        for layer, value in enumerate(values):
            rows.append({"model": model_name, "method": name,
                         "layer": layer + 1 if len(values) > 1 else "all",
                         "spearman_with_loo": round(float(value), 4),
                         "top1_agreement": round(float(result["top1"][name][layer]), 4)})
    return pd.DataFrame(rows)


def _minilm_demo(out, args, encoder):
    """MiniLM: similarity to a reference sentence, mean-pooled rows, ``[MASK]`` blank."""
    examples = minilm_examples(encoder.model, encoder.tokenizer)
    result = faithfulness(encoder.model, examples, ig_steps=args.ig_steps)
    _report(encoder.name, result)
    fig = _faithfulness_figure(result, f"{encoder.name}: agreement with leave-one-out "
                               f"({len(examples)} sentence pairs)")
    out.save_figure(fig, "encoder_faithfulness", "MiniLM, F = cosine similarity to a reference sentence, "
                    "[MASK] blank, six sentence pairs, mean row (mean pooling). Left: Spearman correlation "
                    "with leave-one-out per layer; right: how often the map's top token is leave-one-out's. "
                    + ABNAR_ZUIDEMA)
    return examples, _table(result, encoder.name)


def _gpt2_demo(out, args, gpt):
    """Tiny GPT-2: the logit of the token the induction head should copy, last row, ``<unk>`` blank."""
    examples = gpt2_examples(gpt.tokenizer)
    result = faithfulness(gpt.model, examples, ig_steps=args.ig_steps)
    _report(gpt.name, result)
    fig = _faithfulness_figure(result, f"{gpt.name}: agreement with leave-one-out "
                               f"({len(examples)} repeated sequences)")
    found = round(result["top1"]["raw attention"][-1] * len(examples))
    out.save_figure(fig, "gpt2_faithfulness", "Tiny GPT-2, F = logit of the token the induction head should "
                    "copy, <unk> blank, last row. Left: Spearman correlation with leave-one-out per layer "
                    "(low for every map: only 2–3 tokens matter, the rest is noise); right: top-1 agreement "
                    f"— the last layer's raw attention finds the token that matters in {found} of "
                    f"{len(examples)} sequences.")
    return _table(result, gpt.name)


def _randomisation_demo(out, args, encoder, examples):
    """The sanity check: cascading randomisation of MiniLM, top block first."""
    curves = randomisation_check(encoder.model, examples[:2], ig_steps=args.ig_steps)
    n_blocks = len(layer_stack(encoder.model))
    for name, values in curves.items():
        print(f"randomisation, {name:>22}: ρ with the trained map {np.array2string(values, precision=2)}")
    fig = _randomisation_figure(curves, n_blocks, f"{encoder.name}: does the map notice a random model?")
    out.save_figure(fig, "randomisation_check", "Cascading model randomisation (Adebayo et al. 2018): blocks "
                    "re-initialised from the top; Spearman correlation of each method's final map with the "
                    "trained model's map. A map that stays near 1 is not explaining the learned weights.")


def main(argv=None):
    parser = lesson_parser(__doc__, model_kind=None)
    parser.add_argument("--model", "--encoder", dest="encoder", default=None,
                        help="sentence encoder (default: the offline MiniLM)")
    parser.add_argument("--causal-model", default=None,
                        help="decoder-only model (default: tiny-gpt2-induction)")
    parser.add_argument("--ig-steps", type=int, default=16,
                        help="integration steps IG starts from (doubled until completeness is within 1 %%)")
    parser.add_argument("--skip-randomisation", action="store_true",
                        help="skip the model-randomisation check")
    args = parser.parse_args(argv)
    out = LessonOutputs(__file__, args.out)
    torch.manual_seed(0)
    torch.set_num_threads(1)  # tiny models: one thread is as fast, and a busy second core cannot stall it
    import pandas as pd

    from attnviz.models import load_model

    encoder = load_model(args.encoder, kind="encoder", device=args.device)
    examples, minilm_table = _minilm_demo(out, args, encoder)
    gpt = load_model(args.causal_model, kind="causal-lm", device=args.device)
    gpt_table = _gpt2_demo(out, args, gpt)
    pd.concat([minilm_table, gpt_table], ignore_index=True).to_csv(out.path("faithfulness.csv"), index=False)
    out.register("faithfulness.csv", "Mean Spearman correlation with leave-one-out, per model, method and "
                 "layer.")
    if not args.skip_randomisation:
        _randomisation_demo(out, args, encoder, examples)


def _report(name: str, result: dict) -> None:
    print(f"{name}: mean Spearman with leave-one-out | top-1 agreement, per layer")
    for method, values in result["scores"].items():
        print(f"  {method:>22}: " + " ".join(f"{v:+.2f}" for v in values) + "  | "
              + " ".join(f"{v:.2f}" for v in result["top1"][method]))


if __name__ == "__main__":
    raise SystemExit(run_lesson(main))
