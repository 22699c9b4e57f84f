"""Attention rollout against a plainly written loop, on random row-stochastic inputs."""

import itertools

import numpy as np
import pytest
import torch

from attnviz.grading.fixtures import random_attention
from attnviz.plotting import describe_figure
from intermediate.attention_rollout import AttentionRollout, discard_lowest


def loop_rollout(layers, head_fusion="mean", discard_ratio=0.0, add_residual=True):
    """The definition, one layer, head, row and entry at a time (no vectorisation to share bugs with)."""
    n_heads, n, _ = layers[0].shape
    result = None
    for layer in layers:
        fused = np.zeros((n, n))
        for i in range(n):
            for j in range(n):
                values = [layer[h][i][j] for h in range(n_heads)]
                fused[i][j] = {"mean": sum(values) / n_heads, "max": max(values), "min": min(values)}[head_fusion]
        if discard_ratio > 0:
            off = sorted((fused[i][j], i, j) for i in range(n) for j in range(n) if i != j)
            for _value, i, j in off[: int(discard_ratio * n * (n - 1))]:
                fused[i][j] = 0.0
        if add_residual:
            for i in range(n):
                for j in range(n):
                    fused[i][j] = 0.5 * fused[i][j] + (0.5 if i == j else 0.0)
        for i in range(n):
            total = sum(fused[i])
            for j in range(n):
                fused[i][j] = fused[i][j] / total
        if result is None:
            result = fused
        else:  # result <- fused @ result, by hand
            new = np.zeros((n, n))
            for i in range(n):
                for j in range(n):
                    new[i][j] = sum(fused[i][m] * result[m][j] for m in range(n))
            result = new
    return result


SETTINGS = list(itertools.product(["mean", "max", "min"], [True, False], [0.0, 0.1, 0.5]))


@pytest.mark.parametrize(("fusion", "residual", "ratio"), SETTINGS)
def test_rollout_equals_plain_loop(fusion, residual, ratio):
    layers = random_attention(11, (3, 4, 6, 6))  # (L, H, Q, K)
    got = AttentionRollout().compute_rollout(list(layers), discard_ratio=ratio, head_fusion=fusion,
                                             add_residual=residual)
    want = loop_rollout(layers, fusion, ratio, residual)
    np.testing.assert_allclose(got, want, atol=1e-12)
    np.testing.assert_allclose(got.sum(-1), 1.0, atol=1e-12)


def test_api_line_and_input_forms():
    layers = random_attention(2, (4, 3, 5, 5))  # (L, H, Q, K)
    rollout = AttentionRollout()
    r = rollout.compute_rollout(list(layers), discard_ratio=0.1)
    assert r.shape == (5, 5)
    np.testing.assert_allclose(rollout.compute_rollout(layers, discard_ratio=0.1), r)  # array instead of list
    np.testing.assert_allclose(rollout.compute_rollout(torch.tensor(layers), discard_ratio=0.1), r)
    np.testing.assert_allclose(r, loop_rollout(layers, "mean", 0.1, True), atol=1e-12)
    fig = rollout.visualize(r, list("abcde"))
    panel = describe_figure(fig)["panels"][0]
    np.testing.assert_allclose(panel["data"], r)
    assert panel["xticklabels"] == list("abcde") and panel["clim"] == (0.0, 1.0)


def test_constructor_defaults_are_used_and_overridden():
    layers = random_attention(4, (3, 2, 5, 5))
    sharp = AttentionRollout(head_fusion="max", discard_ratio=0.5, add_residual=False)
    np.testing.assert_allclose(sharp.compute_rollout(layers), loop_rollout(layers, "max", 0.5, False), atol=1e-12)
    np.testing.assert_allclose(sharp.compute_rollout(layers, head_fusion="mean", discard_ratio=0.0, add_residual=True),
                               loop_rollout(layers, "mean", 0.0, True), atol=1e-12)


def test_two_by_two_by_hand():
    # One head per layer. Â = 0.5·A + 0.5·I, rows already sum to 1.
    a1 = np.array([[1.0, 0.0], [1.0, 0.0]])  # layer 1: everyone reads token 0
    a2 = np.array([[0.0, 1.0], [0.0, 1.0]])  # layer 2: everyone reads position 1
    h1 = np.array([[1.0, 0.0], [0.5, 0.5]])
    h2 = np.array([[0.5, 0.5], [0.0, 1.0]])
    r = AttentionRollout().compute_rollout([a1[None], a2[None]])
    np.testing.assert_allclose(r, h2 @ h1)  # [[0.75, 0.25], [0.5, 0.5]]
    np.testing.assert_allclose(r, [[0.75, 0.25], [0.5, 0.5]])
    assert not np.allclose(r, h1 @ h2)  # the wrong order is different


def test_batch_equals_one_sample_at_a_time():
    batch = random_attention(5, (3, 4, 2, 7, 7))  # (L, B, H, Q, K)
    rollout = AttentionRollout()
    for kwargs in [{}, {"head_fusion": "max", "discard_ratio": 0.3}, {"add_residual": False, "head_fusion": "min"}]:
        together = rollout.compute_rollout(batch, **kwargs)
        assert together.shape == (4, 7, 7)
        for b in range(4):
            np.testing.assert_allclose(together[b], rollout.compute_rollout(batch[:, b], **kwargs), atol=1e-12)
    # transformers' own form: a tuple of (B, H, Q, K) tensors, one per layer
    as_tuple = tuple(torch.tensor(layer) for layer in batch)
    np.testing.assert_allclose(rollout.compute_rollout(as_tuple), rollout.compute_rollout(batch), atol=1e-12)


def _pad(example, total, rng):
    """Embed (L, H, n, n) attention in (L, H, total, total): padding keys get no weight, padding rows noise."""
    n_layers, n_heads, n, _ = example.shape
    padded = random_attention(int(rng.integers(1000)), (n_layers, n_heads, total, total))
    padded[..., :n, :] = 0.0
    padded[..., :n, :n] = example
    return padded


@pytest.mark.parametrize(("fusion", "ratio", "residual"), [("mean", 0.0, True), ("max", 0.2, True), ("min", 0.4, False)])
def test_padding_mask_gives_the_unpadded_rollout(fusion, ratio, residual):
    rng = np.random.default_rng(0)
    lengths, total = [5, 8, 3], 8
    examples = [random_attention(10 + i, (3, 2, n, n)) for i, n in enumerate(lengths)]
    batch = np.stack([_pad(e, total, rng) for e in examples], axis=1)  # (L, B, H, Q, K)
    mask = np.array([[1] * n + [0] * (total - n) for n in lengths])
    rollout = AttentionRollout(head_fusion=fusion, discard_ratio=ratio, add_residual=residual)
    padded = rollout.compute_rollout(batch, attention_mask=mask)
    for b, (example, n) in enumerate(zip(examples, lengths)):
        np.testing.assert_allclose(padded[b, :n, :n], loop_rollout(example, fusion, ratio, residual), atol=1e-12)
        assert np.all(padded[b, n:] == 0) and np.all(padded[b, :, n:] == 0)


def test_padding_keys_with_weight_are_dropped_and_rows_renormalised():
    layers = random_attention(3, (2, 2, 5, 5))  # padding keys carry weight here
    mask = np.array([1, 1, 1, 1, 0])
    got = AttentionRollout().compute_rollout(layers, attention_mask=mask)
    trimmed = layers[..., :4, :4] / layers[..., :4, :4].sum(-1, keepdims=True)
    np.testing.assert_allclose(got[:4, :4], loop_rollout(trimmed), atol=1e-12)


def test_rollout_by_layer_and_fused_entry_point():
    layers = random_attention(8, (4, 3, 6, 6))
    rollout = AttentionRollout()
    partial = rollout.rollout_by_layer(layers)
    assert partial.shape == (4, 6, 6)
    for depth in range(4):
        np.testing.assert_allclose(partial[depth], loop_rollout(layers[: depth + 1]), atol=1e-12)
    # already-fused, non-stochastic maps (e.g. gradient-weighted) go through rollout_fused
    fused = np.abs(np.random.default_rng(1).normal(size=(4, 6, 6)))
    got = rollout.rollout_fused(fused)
    want = loop_rollout(fused[:, None] / 1.0, "mean", 0.0, True)  # one "head" per layer
    np.testing.assert_allclose(got, want, atol=1e-12)


def test_discard_keeps_diagonal_and_drops_the_right_count():
    m = random_attention(6, (1, 1, 6, 6))  # (L, B, Q, K)
    out = discard_lowest(m, 0.5)
    assert np.all(np.diag(out[0, 0]) == np.diag(m[0, 0]))
    assert int((out[0, 0] == 0).sum()) == 15  # floor(0.5 · 30) off-diagonal entries
    kept = out[0, 0][~np.eye(6, dtype=bool) & (out[0, 0] > 0)]
    dropped = m[0, 0][~np.eye(6, dtype=bool) & (out[0, 0] == 0)]
    assert kept.min() > dropped.max()


def test_float32_heads_are_summed_in_float32_as_the_published_code_does():
    """Abnar & Zuidema's code sums the heads of the float32 array in float32 (``att_mat.sum(axis=1) / H``);
    the lesson does the same (speed is measured in bench/bench_rollout.py, not here), then float64."""
    layers = random_attention(13, (3, 4, 9, 9)).astype(np.float32)  # (L, H, Q, K)
    published = [layer.sum(0).astype(np.float64)[None] / 4 for layer in layers]  # fused in float32, (1, Q, K)
    want = loop_rollout([np.asarray(f) for f in published], "mean", 0.2, True)  # one "head": the fused map
    for form in (layers, list(layers), tuple(torch.tensor(layer) for layer in layers)):
        got = AttentionRollout().compute_rollout(form, discard_ratio=0.2)
        np.testing.assert_allclose(got, want, atol=1e-12)


# ------------------------------------------------------------------------------------------ §7 errors
GOOD = random_attention(0, (2, 2, 4, 4))


@pytest.mark.parametrize(("bad", "kwargs", "error", "words"), [
    ([], {}, ValueError, "empty"),
    (GOOD[0], {}, ValueError, "wrap it in a list"),
    (np.ones((2, 2, 4)), {}, ValueError, "dimensions"),
    ([GOOD[0], GOOD[1][:, :3, :3]], {}, ValueError, "attention_layers[1]"),
    (np.where(np.eye(4, dtype=bool), np.nan, GOOD), {}, ValueError, "NaN"),
    (GOOD - 0.5, {}, ValueError, "negative"),
    (GOOD * 2, {}, ValueError, "sum to 1"),
    (random_attention(0, (2, 2, 4, 5)), {}, ValueError, "square"),
    ("attention", {}, TypeError, "attention_layers"),
    (GOOD, {"head_fusion": "median"}, ValueError, "head_fusion"),
    (GOOD, {"discard_ratio": 1.0}, ValueError, "discard_ratio"),
    (GOOD, {"discard_ratio": "0.1"}, TypeError, "discard_ratio"),
    (GOOD, {"attention_mask": [1, 1, 0]}, ValueError, "attention_mask"),
    (GOOD, {"attention_mask": [0, 0, 0, 0]}, ValueError, "no real token"),
    (GOOD, {"attention_mask": [2, 1, 1, 1]}, ValueError, "attention_mask"),
])
def test_bad_input_errors(bad, kwargs, error, words):
    with pytest.raises(error, match=None) as info:
        AttentionRollout().compute_rollout(bad, **kwargs)
    assert words in str(info.value)


def test_visualize_errors():
    rollout = AttentionRollout()
    r = rollout.compute_rollout(GOOD)
    with pytest.raises(ValueError, match="tokens"):
        rollout.visualize(r, ["a", "b"])
    with pytest.raises(ValueError, match="batch"):
        rollout.visualize(np.stack([r, r]), list("abcd"))
    with pytest.raises(ValueError, match="batch"):
        rollout.visualize(np.stack([r, r]), list("abcd"), batch=5)
    with pytest.raises(ValueError, match="sum to 1"):
        rollout.visualize(r * 3, list("abcd"))


def test_exercise_i1_reference_agrees_with_the_lesson():
    from attnviz.grading.core import SOLUTIONS_DIR, load_module

    solution = load_module(SOLUTIONS_DIR / "02_intermediate/i1_rollout_from_scratch.py", "i1_solution_for_rollout_test")
    layers = random_attention(9, (3, 4, 7, 7))
    for fusion, ratio in [("mean", 0.0), ("max", 0.25), ("min", 0.5)]:
        np.testing.assert_allclose(solution.rollout(layers, fusion, ratio),
                                   AttentionRollout().compute_rollout(layers, discard_ratio=ratio, head_fusion=fusion),
                                   atol=1e-12)


# ------------------------------------------------------------------------------------------ one tie rule (issue 10)
def _i1_rule_by_loop(matrix, ratio):
    """Exercise I1's rule written as a plain loop: floor(ratio · n(n-1)) off-diagonal entries, smallest first,
    equal values in row-major order (the order a stable sort keeps)."""
    n = len(matrix)
    out = [list(map(float, row)) for row in matrix]
    entries = [(out[i][j], i * n + j, i, j) for i in range(n) for j in range(n) if i != j]  # row-major
    entries.sort(key=lambda e: (e[0], e[1]))  # by value, then by position: a stable sort
    for _value, _position, i, j in entries[: int(ratio * n * (n - 1))]:
        out[i][j] = 0.0
    return np.array(out)


def test_uniform_tie_follows_the_i1_rule():
    uniform = np.full((4, 4), 0.25)
    got = discard_lowest(uniform[None, None], 0.5)[0, 0]  # (L=1, B=1, Q, K)
    want = _i1_rule_by_loop(uniform, 0.5)
    # by hand: 6 of the 12 off-diagonal entries go, the first six in row-major order:
    # row 0 loses keys 1, 2, 3; row 1 loses keys 0, 2, 3; rows 2 and 3 keep everything
    by_hand = np.array([[0.25, 0, 0, 0], [0, 0.25, 0, 0], [0.25] * 4, [0.25] * 4])
    np.testing.assert_array_equal(want, by_hand)
    np.testing.assert_array_equal(got, want)
    # the whole rollout with that tie agrees with exercise I1's reference too
    from attnviz.grading.core import SOLUTIONS_DIR, load_module

    solution = load_module(SOLUTIONS_DIR / "02_intermediate/i1_rollout_from_scratch.py", "i1_solution_for_ties")
    layers = np.full((2, 3, 4, 4), 0.25)  # (L, H, Q, K): every head uniform
    np.testing.assert_allclose(AttentionRollout().compute_rollout(layers, discard_ratio=0.5),
                               solution.rollout(layers, "mean", 0.5), atol=1e-12)


def test_ties_with_padding_and_a_batch_follow_the_rule_per_example():
    rng = np.random.default_rng(3)
    values = rng.integers(1, 4, size=(2, 3, 5, 5)).astype(float)  # (L, B, Q, K): many ties
    mask = np.array([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0], [1, 1, 1, 1, 0]], dtype=bool)
    got = discard_lowest(values, 0.3, mask)
    for layer in range(2):
        for b in range(3):
            n = int(mask[b].sum())
            np.testing.assert_array_equal(got[layer, b, :n, :n], _i1_rule_by_loop(values[layer, b, :n, :n], 0.3))
            np.testing.assert_array_equal(got[layer, b, n:], values[layer, b, n:])  # padding untouched
            np.testing.assert_array_equal(got[layer, b, :, n:], values[layer, b, :, n:])


@pytest.mark.parametrize("kwargs", [{}, {"head_fusion": "max", "discard_ratio": 0.3}, {"add_residual": False}])
def test_one_row_equals_that_row_of_the_full_rollout(kwargs):
    rollout = AttentionRollout()
    layers = random_attention(21, (4, 3, 7, 7))  # (L, H, Q, K)
    full = loop_rollout(layers, kwargs.get("head_fusion", "mean"), kwargs.get("discard_ratio", 0.0),
                        kwargs.get("add_residual", True))
    for row in (0, 3, -1):
        np.testing.assert_allclose(rollout.compute_rollout(layers, row=row, **kwargs), full[row], atol=1e-12)
    rng = np.random.default_rng(0)
    batch = np.stack([_pad(random_attention(30, (4, 3, 5, 5)), 7, rng), layers], axis=1)  # (L, B, H, Q, K)
    mask = np.array([[1] * 5 + [0] * 2, [1] * 7])
    whole = rollout.compute_rollout(batch, attention_mask=mask, **kwargs)  # (B, Q, K)
    for row in (0, 6):  # row 6 is padding in example 0: a zero row
        np.testing.assert_allclose(rollout.compute_rollout(batch, attention_mask=mask, row=row, **kwargs),
                                   whole[:, row], atol=1e-12)
    with pytest.raises(ValueError, match="row: index 7 is out of range"):
        rollout.compute_rollout(layers, row=7)


def test_the_input_is_not_modified():
    layers = random_attention(4, (3, 2, 5, 5))
    before = layers.copy()
    rollout = AttentionRollout(discard_ratio=0.2)
    rollout.compute_rollout(layers)
    rollout.rollout_fused(layers.mean(1))
    np.testing.assert_array_equal(layers, before)


def test_cls_row_shares_of_the_caption():
    from intermediate.attention_rollout import cls_row_shares

    layers = random_attention(12, (3, 2, 5, 5))  # (L, H, Q, K)
    shares = cls_row_shares(layers, AttentionRollout())
    np.testing.assert_allclose(shares["raw"], (layers[-1, 0, 0] + layers[-1, 1, 0]) / 2)  # head mean, row 0
    np.testing.assert_allclose(shares["rollout"], loop_rollout(layers)[0], atol=1e-12)
    assert shares["raw_self"] == shares["raw"][0] and shares["rollout_self"] == shares["rollout"][0]


# ------------------------------------------------------------------------------------------ claims (issue 13)
# Every caption sentence of the lesson that states a measurement is computed by the functions below; these
# tests check each function against a hand-written version and assert the stated direction on the lesson's
# default input (MiniLM, DEFAULT_TEXT), so that the gallery cannot keep a claim the model stops supporting.
@pytest.fixture(scope="module")
def default_input():
    from attnviz.grading.fixtures import minilm_attention
    from intermediate.attention_rollout import DEFAULT_TEXT

    weights, tokens = minilm_attention(DEFAULT_TEXT)  # (L, H, Q, K)
    return weights, list(tokens)


def test_diagonal_by_depth_by_hand():
    from intermediate.attention_rollout import diagonal_by_depth

    partial = np.stack([np.eye(3), np.full((3, 3), 1 / 3)])  # (L=2, Q, K)
    np.testing.assert_allclose(diagonal_by_depth(partial), [1.0, 1 / 3])  # mean of A[1,1], A[2,2]
    with pytest.raises(ValueError, match="partial"):
        diagonal_by_depth(np.ones((2, 1, 1)))


def test_claim_rollouts_diagonal_fades_below_uniform(default_input):
    """Folklore says 'the residual keeps the diagonal alive'; on the default input it fades below 1/n."""
    from attnviz.rollout_figures import diagonal_caption
    from intermediate.attention_rollout import diagonal_by_depth

    weights, tokens = default_input
    n = len(tokens)
    partial = AttentionRollout().rollout_by_layer(weights)  # (L, Q, K)
    by_loop = [np.mean([loop_rollout(weights[: depth + 1])[i, i] for i in range(1, n)])
               for depth in range(len(weights))]
    diagonal = diagonal_by_depth(partial)
    np.testing.assert_allclose(diagonal, by_loop, atol=1e-12)
    assert np.all(np.diff(diagonal) < 0), diagonal  # falls at every layer
    assert diagonal[-1] < 1 / n < diagonal[0]  # ends below uniform
    caption = diagonal_caption(diagonal, n)
    assert "falls at every layer" in caption and "does not keep the diagonal alive" in caption
    assert f"{diagonal[-1]:.2f}" in caption and f"{1 / n:.3f}" in caption


def test_claim_max_fusion_is_the_flattest_and_discarding_sharpens(default_input):
    from scipy.stats import entropy as scipy_entropy

    from attnviz.rollout_figures import fusion_caption
    from intermediate.attention_rollout import fusion_entropies

    weights, tokens = default_input
    fusions, ratios = ["mean", "max", "min"], [0.0, 0.5, 0.9]
    grid, entropies = fusion_entropies(weights, AttentionRollout(), fusions, ratios)
    want = np.array([[scipy_entropy(loop_rollout(weights, f, r), axis=-1).mean() for r in ratios]
                     for f in fusions])  # an independent entropy of an independent rollout
    np.testing.assert_allclose(entropies, want, atol=1e-9)
    mean, high, low = entropies[:, 0]
    assert high > mean > low  # without discard: max flattest, min sharpest
    assert np.all(np.diff(entropies, axis=1) < 0)  # discarding sharpens every fusion
    caption = fusion_caption(entropies, fusions, ratios, len(tokens))
    assert "max fusion is the flattest and min the sharpest" in caption and "flattens it" in caption


def test_claim_rollout_rows_trace_back_to_cls(default_input):
    from intermediate.attention_rollout import first_token_shares

    weights, tokens = default_input
    result = AttentionRollout().compute_rollout(weights)
    shares = first_token_shares(weights, result)
    np.testing.assert_allclose(shares["rollout"], loop_rollout(weights)[:, 0], atol=1e-12)
    np.testing.assert_allclose(shares["raw"], weights[-1, :, :, 0].mean(0))
    assert tokens[0] == "[CLS]"
    assert shares["rollout"].min() > 0.5  # every row: most of its share is [CLS]
    assert shares["rollout"].min() > shares["raw"].mean()  # more than in the raw last layer


def test_claim_cls_keeps_more_of_itself_rolled_out(default_input):
    from intermediate.attention_rollout import cls_row_shares

    weights, _ = default_input
    shares = cls_row_shares(weights, AttentionRollout())
    assert shares["rollout_self"] > shares["raw_self"]


def test_claim_wrong_order_differs_with_rows_summing_to_one(default_input):
    from intermediate.attention_rollout import wrong_order_gap

    weights, _ = default_input
    right, wrong, gap = wrong_order_gap(weights, AttentionRollout())
    hats = [0.5 * layer.mean(0) + 0.5 * np.eye(layer.shape[-1]) for layer in weights]
    by_hand = hats[0]
    for hat in hats[1:]:
        by_hand = by_hand @ hat
    np.testing.assert_allclose(wrong, by_hand, atol=1e-12)
    assert gap > 0.05 and np.allclose(wrong.sum(-1), 1) and np.allclose(right.sum(-1), 1)


def test_claim_without_residual_every_row_is_the_same(default_input):
    """The docstring: without the identity, every row of the rollout becomes the same distribution."""
    from intermediate.attention_rollout import residual_row_spread

    weights, _ = default_input
    spread = residual_row_spread(weights, AttentionRollout())
    assert spread[False] < 0.01 < 0.05 < spread[True]
    np.testing.assert_allclose(spread[False], np.ptp(loop_rollout(weights, add_residual=False), axis=0).max(),
                               atol=1e-12)


# ------------------------------------------------------------------------------------------ issue 14: bad input
from bad_attention import (  # noqa: E402
    PROPERTY_SETTINGS,
    assert_rejects,
    bad_attention,
    bad_mask,
    each_bad_attention,
    every_mask_kind,
    valid_attention,
)
from hypothesis import given  # noqa: E402

LHQK = (2, 2, 5, 5)  # (L, H, Q, K)


@each_bad_attention(LHQK)
def test_compute_rollout_rejects_bad_attention(bad):
    _, array = bad
    assert_rejects(lambda: AttentionRollout().compute_rollout(array), "attention_layers")
    assert_rejects(lambda: AttentionRollout().rollout_by_layer(array), "attention_layers")


@each_bad_attention(LHQK)
def test_the_claim_helpers_reject_bad_attention(bad):
    from intermediate.attention_rollout import cls_row_shares, first_token_shares, wrong_order_gap

    _, array = bad
    rollout = AttentionRollout()
    assert_rejects(lambda: cls_row_shares(array, rollout), "weights", "attention_layers")
    assert_rejects(lambda: wrong_order_gap(array, rollout), "weights")
    assert_rejects(lambda: first_token_shares(array, np.eye(5)), "weights")


@PROPERTY_SETTINGS
@given(bad=bad_attention((3, 5, 5), kinds=("nan", "inf", "negative", "empty", "extra_dim", "missing_dim",
                                           "wrong_keys", "string", "none")))
def test_rollout_fused_and_diagonal_reject_bad_maps(bad):
    """Fused maps need not have rows summing to 1 (gradient-weighted maps), so 'unnormalised' and
    'transposed' are valid input to rollout_fused; every other spoiling is refused."""
    from intermediate.attention_rollout import diagonal_by_depth

    _, array = bad
    assert_rejects(lambda: AttentionRollout().rollout_fused(array), "fused_layers")
    assert_rejects(lambda: diagonal_by_depth(array), "partial")


@each_bad_attention((5, 5))
def test_visualize_rejects_a_bad_rollout(bad):
    _, array = bad
    assert_rejects(lambda: AttentionRollout().visualize(array, list("abcde")), "rollout")


@PROPERTY_SETTINGS
@given(bad=bad_attention((1, 5, 5), kinds=("nan", "inf", "negative", "empty", "extra_dim", "missing_dim",
                                           "wrong_keys", "string", "none")))
def test_discard_lowest_rejects_bad_maps(bad):
    _, array = bad
    assert_rejects(lambda: discard_lowest(array, 0.2), "fused")


@PROPERTY_SETTINGS
@given(bad=bad_mask(5))
@every_mask_kind(5)
def test_compute_rollout_rejects_bad_masks(bad):
    _, mask = bad
    assert_rejects(lambda: AttentionRollout().compute_rollout(valid_attention(LHQK), attention_mask=mask),
                   "attention_mask")


@pytest.mark.parametrize("ratio", [-1, -0.1, 1.0, 7, float("nan")])
def test_discard_lowest_ratio_out_of_range_is_an_error(ratio):
    """Before: ratio=-1 zeroed nothing and returned the input as if that were the answer."""
    assert_rejects(lambda: discard_lowest(valid_attention((1, 4, 4)), ratio), "ratio")
    assert_rejects(lambda: discard_lowest(valid_attention((1, 4, 4)), "0.1"), "ratio")


def test_chaining_the_usage_lines_a_batch_of_one_needs_no_batch_argument():
    """compute_rollout(model(...).attentions) gives (1, Q, K); visualize takes it as it is."""
    outputs_attentions = tuple(torch.tensor(valid_attention((1, 2, 4, 4), seed=i)) for i in range(3))  # (B, H, Q, K)
    rollout = AttentionRollout()
    result = rollout.compute_rollout(outputs_attentions)
    assert result.shape == (1, 4, 4)
    panel = describe_figure(rollout.visualize(result, list("abcd")))["panels"][0]
    np.testing.assert_allclose(panel["data"], result[0])
    with pytest.raises(ValueError, match="batch=<index>"):  # two examples: still ask which
        rollout.visualize(np.concatenate([result, result]), list("abcd"))
    with pytest.raises(ValueError, match="no batch axis"):
        rollout.visualize(result[0], list("abcd"), batch=0)


def test_a_list_of_fused_matrices_points_at_rollout_fused():
    per_layer = [valid_attention((4, 4), seed=i) for i in range(3)]  # (Q, K) each: heads already fused
    error = assert_rejects(lambda: AttentionRollout().compute_rollout(per_layer), "attention_layers")
    assert "rollout_fused" in str(error)
    error = assert_rejects(lambda: AttentionRollout().compute_rollout(np.stack(per_layer)), "attention_layers")
    assert "rollout_fused" in str(error) and "wrap it in a list" in str(error)  # (L, Q, K) or one (H, Q, K)
    np.testing.assert_allclose(AttentionRollout().rollout_fused(per_layer),
                               loop_rollout([m[None] for m in per_layer]), atol=1e-12)


@each_bad_attention(LHQK)
def test_the_rollout_variant_helpers_reject_bad_attention(bad):
    from intermediate.attention_rollout import fusion_entropies, residual_row_spread

    _, array = bad
    assert_rejects(lambda: fusion_entropies(array, AttentionRollout()), "attention_layers")
    assert_rejects(lambda: residual_row_spread(array, AttentionRollout()), "attention_layers")


def test_claim_padded_example_equals_its_unpadded_run_on_the_default_input():
    from beginner.attention_basics import AttentionModel
    from intermediate.attention_rollout import DEFAULT_TEXT, _padded_batch_demo

    captions = {}

    class Outputs:  # what the demo needs of LessonOutputs: the caption, not the PNG
        def save_figure(self, fig, name, caption):
            captions[name] = caption

    gap = _padded_batch_demo(Outputs(), AttentionModel(device="cpu"), DEFAULT_TEXT, AttentionRollout())
    assert gap < 1e-6
    assert "equals the unpadded run up to float32 rounding" in captions["padded_batch"]
