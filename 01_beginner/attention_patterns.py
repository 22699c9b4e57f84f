"""Lesson 1.3 — The common attention patterns: generate them, then find them in real heads.

The idea
--------
Heads of trained transformers fall into a handful of recognisable shapes (Clark et al. 2019, "What Does
BERT Look At?"; Voita et al. 2019, "Analyzing Multi-Head Self-Attention"; Olsson et al. 2022,
"In-context Learning and Induction Heads"). Each is a rule for where query ``i`` puts its weight:

==================  =========================================  ==========================================
pattern             query ``i`` attends to                      what it is good for
==================  =========================================  ==========================================
diagonal / local    itself and its neighbours ``i-1, i, i+1``   local context, like a convolution
vertical stripe     one shared key (often ``[SEP]`` or ``.``)   broadcast; also a "no-op" parking place
block / segment     the tokens of its own segment               keeping sentences or fields apart
beginning-of-seq    the first token (``[CLS]``/BOS)             a default sink when nothing else fits
previous token      ``i-1`` only                                 bigrams; half of an induction circuit
induction           the token *after* the previous occurrence   copying: "A B … A → B" (in-context learning)
                    of its own token
==================  =========================================  ==========================================

Each rule defines a *support*: a 0/1 mask ``M`` with ``M[i, j] = 1`` where the pattern puts weight.
Spreading each row's weight evenly over its support gives the pattern's ideal attention matrix ``P``
(:func:`make_pattern` — the pictures the outline draws). To score a real head ``A`` we ask how much of
each row's distribution *overlaps* the ideal one, and correct for chance::

    overlap_i = Σ_j min(A[i, j], P[i, j])            (= 1 − total-variation distance of the two rows)
    chance_i  = Σ_j min(1/n_i, P[i, j])              (the overlap of uniform attention over n_i keys)
    score     = mean_i (overlap_i − chance_i) / (1 − chance_i)      over rows where the pattern is defined

A score of 1 means the head *is* the pattern, 0 means no better than uniform. A row whose chance level is
1 carries no evidence — uniform attention already *is* the ideal there (in a causal model, query 0 sees one
key and query 1 sees two, both on the diagonal band) — so it is left out of the mean instead of being
divided by zero. Both corrections matter.
Without the chance term a wide pattern (a block) would always beat a narrow one. And using the overlap
with the ideal distribution rather than the raw mass on the support keeps nested patterns apart: a
previous-token head puts all its mass inside the diagonal band too, but its overlap with the band's
ideal (1/3 on each of three keys) is only 1/3. Each head gets the label of its best pattern, or
"mixed" when no score reaches ``threshold`` (a score between 0 and 1) — and many heads *are* mixed: the
map is a first look, not a verdict.

Where a pattern is undefined for a query (the first token has no previous token; a token seen for the
first time has no earlier occurrence to copy from), the ideal matrix sends the row to the first token —
the "attention sink" real heads park their weight on when their rule does not apply (Xiao et al. 2023,
"Efficient Streaming Language Models with Attention Sinks"). The figure of the ideal patterns draws those
rows grey: they are not part of the pattern, and the scorer ignores them.

Run it
------
    python 01_beginner/attention_patterns.py            # MiniLM and the tiny GPT-2, offline
"""

from __future__ import annotations

import numpy as np

from attnviz.cli import lesson_parser, run_lesson
from attnviz.kinds import detect_kind
from attnviz.models import require_kind
from attnviz.outputs import LessonOutputs
from attnviz.plotting import show_heatmaps
from attnviz.validate import check_attention, check_tokens
from beginner.attention_basics import AttentionModel

PATTERNS = ("diagonal", "vertical_stripe", "block", "bos", "previous_token", "induction")
DEFAULT_TEXT = "The cat sat on the mat. The dog sat on the rug. The cat sat on the mat."
SEPARATORS = {".", "[SEP]", "[CLS]", "<s>", "</s>", ",", ";", "?", "!"}


def segment_ids(tokens: list[str]) -> np.ndarray:
    """Segment index of each token: a new segment starts after each separator (``.``, ``[SEP]``...)."""
    ids, current = [], 0
    for tok in tokens:
        ids.append(current)
        if tok in SEPARATORS:
            current += 1
    return np.array(ids)


def pattern_support(name: str, tokens: list[str], *, causal: bool = False, stripe_column: int | None = None):
    """The 0/1 support ``M`` ``(n, n)`` of a pattern and the boolean rows ``(n,)`` where it is defined.

    ``tokens`` matter for ``block`` (segments) and ``induction`` (repeated tokens); ``stripe_column`` is
    the key of a vertical stripe (default: the last token). ``causal`` removes keys after the query.
    """
    n = len(tokens)
    i, j = np.indices((n, n))  # i: query index, j: key index, both (n, n)
    valid = np.ones(n, dtype=bool)
    if name == "diagonal":
        support = np.abs(i - j) <= 1
    elif name == "vertical_stripe":
        column = n - 1 if stripe_column is None else stripe_column
        support = j == column
        if causal:
            valid = np.arange(n) >= column
    elif name == "block":
        seg = segment_ids(tokens)
        support = seg[i] == seg[j]
    elif name == "bos":
        support = j == 0
    elif name == "previous_token":
        support = j == i - 1
        valid = np.arange(n) >= 1
    elif name == "induction":
        support = np.zeros((n, n), dtype=bool)
        for q in range(n):  # key = the token after each earlier occurrence of the query's own token
            for earlier in range(q - 1):
                if tokens[earlier] == tokens[q]:
                    support[q, earlier + 1] = True
        valid = support.any(1)
    else:
        raise ValueError(f"name: got {name!r}; expected one of {', '.join(PATTERNS)}")
    if causal:
        support = support & (j <= i)
    return support, valid & support.any(1)


def make_pattern(name: str, n: int, *, tokens: list[str] | None = None, causal: bool = False) -> np.ndarray:
    """An ideal ``(n, n)`` attention matrix of a pattern: the support, rows normalised to sum to 1.

    Rows where the pattern is undefined (see :func:`pattern_support`'s ``valid``) put all their weight on
    the first token, the sink real heads use — never on the query itself, which would draw a diagonal
    that is not part of the pattern.
    """
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise ValueError(f"n: got {n!r}; expected a positive number of tokens")
    tokens = [f"t{k}" for k in range(n)] if tokens is None else tokens
    tokens = check_tokens(tokens, n, name="tokens")
    support, valid = pattern_support(name, tokens, causal=causal)
    matrix = support.astype(float)  # (n, n)
    matrix[~valid] = 0.0
    matrix[~valid, 0] = 1.0  # undefined rows: all weight on the first token (the sink)
    return matrix / matrix.sum(1, keepdims=True)


NO_EVIDENCE = 1e-6  # a row whose chance overlap is within this of 1 cannot tell a head from uniform


def pattern_score(attention, support, valid, causal: bool = False) -> float:
    """Chance-corrected overlap with the pattern's ideal rows, averaged over the valid rows that carry
    evidence (module docstring); NaN when no row does.

    ``support`` is the ``(n, n)`` 0/1 mask and ``valid`` the ``(n,)`` rows where the pattern is defined,
    as :func:`pattern_support` returns them. Rows whose chance level is 1 (uniform attention is already the
    ideal) are dropped rather than divided by ~0, so every score lies in ``[-chance/(1-chance), 1]``.
    """
    A = check_attention(attention, "QK", name="attention", square=True)
    n = A.shape[0]
    support = _as_bool(support, (n, n), "support")
    valid = _as_bool(valid, (n,), "valid")
    ideal = support / np.maximum(support.sum(1, keepdims=True), 1)  # (n, n): each row uniform on its support
    visible = np.arange(1, n + 1) if causal else np.full(n, n)  # keys each query can see, (n,)
    overlap = np.minimum(A, ideal).sum(1)  # (n,)
    chance = np.minimum(1.0 / visible[:, None], ideal).sum(1)  # (n,)
    informative = valid & support.any(1) & (chance < 1.0 - NO_EVIDENCE)  # (n,)
    if not informative.any():
        return float("nan")
    lift = (overlap[informative] - chance[informative]) / (1.0 - chance[informative])
    return float(lift.mean())


def _as_bool(mask, shape: tuple, name: str) -> np.ndarray:
    """A 0/1 or boolean array of exactly ``shape``, as booleans (a ``ValueError`` naming ``name`` if not)."""
    arr = np.asarray(mask)
    if arr.shape != shape:
        raise ValueError(f"{name}: got shape {arr.shape}; expected {shape}, as pattern_support returns it")
    if arr.dtype != bool and not np.isin(arr, (0, 1)).all():
        raise ValueError(f"{name}: expected a boolean (0/1) mask, got other values")
    return arr.astype(bool)


def check_threshold(threshold) -> float:
    """A label threshold is a score between 0 (chance) and 1 (the pattern itself)."""
    if isinstance(threshold, bool) or not isinstance(threshold, int | float | np.floating | np.integer) \
            or not 0.0 <= float(threshold) <= 1.0:
        raise ValueError(f"threshold: got {threshold!r}; expected a score between 0 (chance) and 1 "
                         "(all weight on the pattern), e.g. 0.4")
    return float(threshold)


def score_head(attention, tokens: list[str], *, causal: bool = False) -> dict[str, float]:
    """Scores of one head ``(n, n)`` against every pattern (NaN where a pattern is undefined)."""
    A = check_attention(attention, "QK", name="attention", square=True)
    tokens = check_tokens(tokens, A.shape[0], name="tokens")
    # the stripe sits on the key that receives most attention overall, leaving out the first token (BOS's)
    column_mass = A.mean(0)  # (n,)
    stripe = int(np.argmax(column_mass[1:]) + 1) if len(tokens) > 1 else 0
    scores = {}
    for name in PATTERNS:
        support, valid = pattern_support(name, tokens, causal=causal, stripe_column=stripe)
        scores[name] = pattern_score(A, support, valid, causal)
    return scores


def label_heads(attention, tokens: list[str], *, causal: bool = False, threshold: float = 0.4):
    """Label every head of ``(L, H, n, n)`` attention by its best-matching pattern.

    Returns ``(labels, scores)``: ``labels`` an ``(L, H)`` array of pattern names (or ``"mixed"``),
    ``scores`` an ``(L, H, len(PATTERNS))`` array.
    """
    A = check_attention(attention, "LHQK", name="attention", square=True)
    threshold = check_threshold(threshold)
    n_layers, n_heads = A.shape[:2]
    scores = np.array([[list(score_head(A[l, h], tokens, causal=causal).values()) for h in range(n_heads)]
                       for l in range(n_layers)])  # (L, H, P)
    best = np.nanargmax(np.nan_to_num(scores, nan=-np.inf), axis=-1)  # (L, H)
    best_score = np.take_along_axis(np.nan_to_num(scores, nan=-np.inf), best[..., None], -1)[..., 0]
    labels = np.where(best_score >= threshold, np.array(PATTERNS, dtype=object)[best], "mixed")
    return labels, scores


def plot_label_map(labels, scores, title: str):
    """The layer × head map: colour is the best pattern's score (clipped to 0–1), text is its name."""
    labels = np.asarray(labels, dtype=object)
    scores = np.asarray(scores, dtype=float)
    if labels.ndim != 2 or scores.shape[:2] != labels.shape or scores.ndim != 3:
        raise ValueError(f"labels, scores: got shapes {labels.shape} and {scores.shape}; expected (L, H) and "
                         "(L, H, patterns), as label_heads returns them")
    best = np.nanmax(np.nan_to_num(scores, nan=-1.0), axis=-1)  # (L, H)
    n_layers, n_heads = labels.shape
    fig = show_heatmaps(np.clip(best, 0.0, 1.0), xlabels=[f"h{h}" for h in range(n_heads)],
                        ylabels=[f"L{l}" for l in range(n_layers)],
                        xlabel="head", ylabel="layer", titles=[title], vmin=0.0, vmax=1.0, tick_labels=True,
                        colorbar_label="best pattern score (0 = chance or below, 1 = all weight on the "
                                       "pattern)",
                        panel_size=max(3.5, 0.5 * n_heads))
    ax = fig.axes[0]
    short = {"diagonal": "diag", "vertical_stripe": "stripe", "block": "block", "bos": "BOS",
             "previous_token": "prev", "induction": "induct", "mixed": "mixed"}
    for (l, h), label in np.ndenumerate(labels):
        ax.text(h, l, short[label], ha="center", va="center", fontsize=7,
                color="white" if best[l, h] < 0.6 else "black")
    return fig


def repeated_random_tokens(tokenizer, length: int, seed: int = 0) -> list[str]:
    """A random token sequence followed by an exact repeat: the test bed of induction heads."""
    rng = np.random.default_rng(seed)
    special = set(tokenizer.all_special_ids)
    candidates = [i for i in range(len(tokenizer)) if i not in special]
    first_half = rng.choice(candidates, size=length, replace=False).tolist()
    return tokenizer.convert_ids_to_tokens(first_half + first_half)


def gpt2_attention(model_name: str | None, device, half: int = 12):
    """The tiny GPT-2's attention ``(L, H, n, n)`` and tokens on a repeated random sequence."""
    import torch

    from attnviz.extract import transformer_attentions
    from attnviz.models import load_model

    loaded = load_model(model_name, kind="causal-lm", device=device, option="--causal-model")
    tokens = repeated_random_tokens(loaded.tokenizer, half)
    bos = loaded.tokenizer.bos_token
    if bos is not None:  # the model was trained with a BOS token in front
        tokens = [bos] + tokens
    ids = torch.tensor([loaded.tokenizer.convert_tokens_to_ids(tokens)], device=loaded.device)
    with torch.no_grad():
        attention = transformer_attentions(loaded.model, {"input_ids": ids})  # (L, B=1, H, n, n)
    return attention[:, 0].cpu().numpy(), tokens, loaded.name


IDEAL_TOKENS = ["[CLS]", "the", "cat", "sat", ".", "the", "cat", "ran", ".", "[SEP]"]


def _ideal_demo(out):
    """The ideal patterns, drawn from their generators; rows where a pattern is undefined are grey."""
    toks = IDEAL_TOKENS
    ideal = np.stack([make_pattern(name, len(toks), tokens=toks) for name in PATTERNS])  # (P, n, n)
    undefined = np.stack([~pattern_support(name, toks)[1] for name in PATTERNS])  # (P, n): rows not in it
    # ideal[None]: (1, P, n, n), one row of P panels; masked: (1, P, n, 1), whole rows
    fig = show_heatmaps(ideal[None], masked=undefined[None, :, :, None], titles=list(PATTERNS), xlabels=toks,
                        ylabels=toks, tick_labels=True, panel_size=2.6,
                        suptitle="The six common patterns, as ideal attention matrices")
    counts = {name: int((~undefined[k]).sum()) for k, name in enumerate(PATTERNS)}
    copying = [f"'{toks[q]}'" for q in np.flatnonzero(~undefined[PATTERNS.index("induction")])]
    out.save_figure(fig, "ideal_patterns", f"Generators for the six patterns on a {len(toks)}-token example "
                    "with two segments and a repeated phrase. Grey rows: the pattern is undefined there. "
                    f"Induction is defined on {counts['induction']} of {len(toks)} rows, the repeats "
                    f"{', '.join(copying)}, each attending to the token after its earlier occurrence; "
                    f"previous-token on {counts['previous_token']}. The scorer ignores grey rows.")
    return counts


def _encoder_demo(out, args):
    """Label every head of the pre-trained encoder, and show one example head per label."""
    encoder = AttentionModel(args.model, device=args.device)
    weights = encoder.get_attention_weights(args.text)  # (L, H, n, n)
    tokens = encoder.tokens(args.text)
    causal = args.model is not None and detect_kind(args.model) == "causal-lm"  # a decoder given as --model
    labels, scores = label_heads(weights, tokens, causal=causal, threshold=args.threshold)
    fig = plot_label_map(labels, scores, f"{encoder.name}: best pattern of each head")
    out.save_figure(fig, "encoder_pattern_map", f"Every head of {encoder.name} labelled by its best pattern "
                    f"on “{args.text}”. Colour is the chance-corrected score; 'mixed' means no score ≥ "
                    f"{args.threshold}.")
    counts = {name: int((labels == name).sum()) for name in (*PATTERNS, "mixed")}
    print(f"{encoder.name} head labels: {counts}")
    # the best-scoring head of each label found, so the example is the clearest one
    examples = []
    for k, name in enumerate(PATTERNS):
        if (labels == name).any():
            candidates = np.argwhere(labels == name)  # (m, 2)
            examples.append(tuple(candidates[np.argmax([scores[l, h, k] for l, h in candidates])]))
    if examples:
        panels = np.stack([weights[l, h] for l, h in examples])[None]  # (1, patterns found, n, n)
        fig = show_heatmaps(panels, xlabels=tokens, ylabels=tokens,
                            titles=[f"L{l} h{h}: {labels[l, h]} ({np.nanmax(scores[l, h]):.2f})"
                                    for l, h in examples],
                            tick_labels=True, panel_size=max(3.0, 0.16 * len(tokens) + 1.2),
                            suptitle=f"The best-scoring head of each pattern found in {encoder.name}")
        out.save_figure(fig, "encoder_examples", "The best-scoring head carrying each label (score in "
                        "brackets), with its tokens, so the label can be checked against the picture.")
    return labels, scores


def _decoder_demo(out, args):
    """The tiny GPT-2 trained on repeated random sequences: previous-token and induction heads."""
    # A --causal-model that cannot be loaded is a user error: one line naming --causal-model, exit 2.
    weights, tokens, name = gpt2_attention(args.causal_model, args.device)  # (L, H, n, n)
    labels, scores = label_heads(weights, tokens, causal=True, threshold=args.threshold)
    found = {pattern: int((labels == pattern).sum()) for pattern in ("previous_token", "induction")}
    fig = plot_label_map(labels, scores, f"{name}: best pattern of each head")
    out.save_figure(fig, "decoder_pattern_map", f"{name} on a random sequence repeated twice: the scorer "
                    f"labels {found['previous_token']} previous-token and {found['induction']} induction "
                    "head(s), the two the training task needs.")
    print(f"{name} head labels: {labels.tolist()}")
    induction = PATTERNS.index("induction")
    best_induction = float(np.nanmax(scores[..., induction]))
    n_layers, n_heads = weights.shape[:2]
    fig = show_heatmaps(weights, titles=[[f"L{l} h{h}: {labels[l, h]}" for h in range(n_heads)]
                                         for l in range(n_layers)],
                        xlabels=tokens, ylabels=tokens, panel_size=2.6,
                        suptitle=f"{name}: every head on a repeated random sequence")
    out.save_figure(fig, "decoder_heads", f"All heads of {name}, labelled. An induction head's weight runs "
                    "along an off-diagonal in the second half: each token looks at the token after its first "
                    f"occurrence (best induction score {best_induction:.2f}; {found['induction']} head(s) "
                    "labelled induction).")
    return labels, scores


def main(argv=None):
    parser = lesson_parser(__doc__, text=DEFAULT_TEXT)
    parser.add_argument("--causal-model", default=None,
                        help="a decoder-only model (default: tiny-gpt2-induction)")
    parser.add_argument("--threshold", type=float, default=0.4,
                        help="minimum score for a label, between 0 and 1 (default 0.4)")
    args = parser.parse_args(argv)
    check_threshold(args.threshold)  # out of range: one line, exit 2, before any work
    out = LessonOutputs(__file__, args.out)
    require_kind(args.model, "encoder")  # a model of the wrong kind is refused before any work
    require_kind(args.causal_model, "causal-lm", option="--causal-model")
    return {"ideal": _ideal_demo(out), "encoder": _encoder_demo(out, args),
            "decoder": _decoder_demo(out, args)}


if __name__ == "__main__":
    raise SystemExit(run_lesson(main))
