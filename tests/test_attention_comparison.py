"""Depth statistics and the basic entropy, against hand-computed cases, SciPy and plain loops."""

import numpy as np
import pytest
from scipy.stats import entropy as scipy_entropy

from attnviz.grading.fixtures import random_attention
from intermediate.attention_comparison import (
    STATISTICS,
    attention_entropy,
    depth_statistics,
    layer_summary,
    row_statistics,
)


def test_entropy_by_hand_with_zeros():
    rows = np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.0], [1 / 3, 1 / 3, 1 / 3]])
    got = attention_entropy(rows)
    np.testing.assert_allclose(got, [0.0, np.log(2), np.log(3)], atol=1e-12)  # nats; 0·log 0 = 0, no NaN
    assert attention_entropy(rows, per="head") == pytest.approx((np.log(2) + np.log(3)) / 3)


def test_entropy_matches_scipy_on_random_rows():
    attention = random_attention(0, (2, 3, 4, 6))  # (L, H, Q, K)
    want = scipy_entropy(attention, axis=-1)  # natural log
    np.testing.assert_allclose(attention_entropy(attention), want, atol=1e-12)
    np.testing.assert_allclose(attention_entropy(attention, per="head"), want.mean(-1), atol=1e-12)


def test_entropy_masks_padding_keys_and_rows():
    real = random_attention(1, (3, 4, 4))  # (H, Q, K) of a 4-token sentence
    padded = np.zeros((3, 6, 6))
    padded[:, :4, :4] = real
    padded[:, 4:, :] = 1 / 6  # padding queries: junk rows
    mask = np.array([1, 1, 1, 1, 0, 0])
    rows = attention_entropy(padded, mask)
    np.testing.assert_allclose(rows[:, :4], scipy_entropy(real, axis=-1), atol=1e-12)
    assert np.isnan(rows[:, 4:]).all()  # padding rows are NaN, never "perfectly focused"
    np.testing.assert_allclose(attention_entropy(padded, mask, per="head"), scipy_entropy(real, axis=-1).mean(-1))
    # weight on a masked key is dropped and the row renormalised over the real keys
    leaky = np.array([[0.25, 0.25, 0.5]])
    assert attention_entropy(leaky, [1, 1, 0])[0] == pytest.approx(np.log(2))


def test_entropy_batch_mask_in_canonical_layout():
    attention = random_attention(2, (2, 3, 2, 5, 5))  # (L, B, H, Q, K)
    mask = np.array([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0], [1, 1, 1, 1, 0]])
    got = attention_entropy(attention, mask, per="head")  # (L, B, H)
    for b in range(3):
        n = mask[b].sum()
        trimmed = attention[:, b, :, :n, :n] / attention[:, b, :, :n, :n].sum(-1, keepdims=True)
        np.testing.assert_allclose(got[:, b], scipy_entropy(trimmed, axis=-1).mean(-1), atol=1e-12)


def loop_statistics(a, special):
    """distance, special mass, diagonal mass of one (Q, K) matrix, by loops."""
    n = a.shape[0]
    dist = [sum(a[i, j] * abs(i - j) for j in range(n)) for i in range(n)]
    spec = [sum(a[i, j] for j in range(n) if special[j]) for i in range(n)]
    diag = [a[i, i] for i in range(n)]
    return np.mean(dist), np.mean(spec), np.mean(diag)


def test_depth_statistics_equal_loops_and_padding_changes_nothing():
    lengths, total = [5, 3], 5
    examples = [random_attention(10 + i, (2, 3, n, n)) for i, n in enumerate(lengths)]  # (L, H, n, n)
    batch = np.zeros((2, 2, 3, total, total))  # (L, B, H, Q, K)
    for b, (e, n) in enumerate(zip(examples, lengths)):
        batch[:, b, :, :n, :n] = e
        batch[:, b, :, n:, :] = 1 / total
    mask = np.array([[1] * n + [0] * (total - n) for n in lengths])
    special = np.zeros((2, total), bool)
    special[:, 0] = True
    special[0, 4] = special[1, 2] = True  # [CLS] ... [SEP]
    table = depth_statistics(batch, mask, special, model="toy")
    assert list(table.columns) == ["model", "layer", "head", "depth", *STATISTICS] and len(table) == 6
    for layer in range(2):
        for head in range(3):
            per_example = [loop_statistics(examples[b][layer, head], special[b]) for b in range(2)]
            # mean over all real query rows of the batch: weight each example by its number of rows
            want = np.average(per_example, axis=0, weights=lengths)
            row = table[(table["layer"] == layer) & (table["head"] == head)].iloc[0]
            np.testing.assert_allclose([row.distance, row.special_mass, row.diagonal_mass], want, atol=1e-12)
    alone = depth_statistics(examples[1], None, special[1, :3], model="toy")  # the short one, unpadded
    padded_only = depth_statistics(batch[:, 1:], mask[1:], special[1:], model="toy")
    np.testing.assert_allclose(padded_only[list(STATISTICS)].to_numpy(), alone[list(STATISTICS)].to_numpy(),
                               atol=1e-12)
    summary = layer_summary(table)
    assert summary.shape[0] == 2
    np.testing.assert_allclose(summary.distance, table.groupby("layer").distance.mean().round(3))


def test_causal_entropy_fraction_of_uniform_rows_is_one():
    n = 6
    causal = np.tril(np.ones((n, n)))
    causal /= causal.sum(-1, keepdims=True)  # row i uniform over keys 0..i
    stats = row_statistics(causal[None, None, None])  # (L, B, H, Q)
    assert not np.allclose(stats["entropy_fraction"][0, 0, 0, 1:], 1.0)  # divided by log n: wrong for causal
    stats = row_statistics(causal[None, None, None], causal=True)
    fraction = stats["entropy_fraction"][0, 0, 0]
    assert np.isnan(fraction[0])  # one visible key: no fraction
    np.testing.assert_allclose(fraction[1:], 1.0)
    np.testing.assert_allclose(stats["distance"][0, 0, 0], [np.mean(range(i + 1)) for i in range(n)])


@pytest.mark.parametrize(("call", "error", "words"), [
    (lambda a: attention_entropy(a, per="layer"), ValueError, "per"),
    (lambda a: attention_entropy(a, [1, 1]), ValueError, "mask"),
    (lambda a: attention_entropy(a, [[1, 1, 1, 1]]), ValueError, "mask"),
    (lambda a: attention_entropy(a, [1, 2, 1, 1]), ValueError, "mask"),
    (lambda a: attention_entropy(a * np.nan), ValueError, "NaN"),
    (lambda a: attention_entropy(a * 2), ValueError, "sum to 1"),
    (lambda a: attention_entropy(a[0, 0, 0]), ValueError, "dimensions"),
    (lambda a: attention_entropy("weights"), TypeError, "weights"),
    (lambda a: depth_statistics(a[..., :3]), ValueError, "square"),
    (lambda a: depth_statistics(a, special=np.ones((2, 3))), ValueError, "special"),
])
def test_errors(call, error, words):
    attention = random_attention(3, (2, 3, 4, 4))  # (L, H, Q, K)
    with pytest.raises(error) as info:
        call(attention)
    assert words in str(info.value)


def test_previous_token_head_by_hand():
    from intermediate.attention_comparison import previous_token_head

    uniform = np.full((3, 3), 1 / 3)
    previous = np.array([[1.0, 0, 0], [1.0, 0, 0], [0, 1.0, 0]])  # rows 1 and 2 read the previous token
    half = np.array([[1.0, 0, 0], [0.5, 0.5, 0], [0, 0.5, 0.5]])
    head, share = previous_token_head(np.stack([uniform, previous, half]))  # (H=3, Q, K)
    assert head == 1 and share == 1.0  # A[1, i, i-1] = 1 for i = 1, 2; head 2 has 0.5, head 0 has 1/3
    with pytest.raises(ValueError, match="layer_weights"):
        previous_token_head(np.ones((2, 3, 4)) / 4)


# ------------------------------------------------------------------------------------------ claims (issue 13)
def test_most_read_key_and_induction_scores_by_hand():
    from intermediate.attention_comparison import induction_scores, most_read_key

    stripe = np.array([[0.8, 0.2, 0.0], [0.6, 0.4, 0.0], [0.7, 0.1, 0.2]])  # column 0 read most: mean 0.7
    keys, shares = most_read_key(np.stack([stripe, np.eye(3)]))
    assert keys.tolist() == [0, 0] and shares == pytest.approx([0.7, 1 / 3])
    # tokens a b a b: query 2 (a, earlier at 0) -> target 1; query 3 (b, earlier at 1) -> target 2
    head = np.zeros((4, 4))
    head[0, 0] = head[1, 0] = 1.0
    head[2, 1] = 1.0  # query 2 reads the induction target
    head[3, 3] = 1.0  # query 3 reads itself, not target 2
    assert induction_scores(head[None], list("abab")) == pytest.approx([0.5])
    with pytest.raises(ValueError, match="tokens"):
        induction_scores(head[None], list("abcd"))


def test_claim_early_vs_late_encoder_on_the_default_sentences():
    from intermediate.attention_comparison import (
        DEFAULT_SENTENCES,
        early_vs_late_caption,
        encoder_batch,
        previous_token_head,
    )

    weights, mask, _, tokens, name = encoder_batch(None, "cpu", DEFAULT_SENTENCES)
    n = int(mask[0].sum())
    first = weights[:, 0, :, :n, :n]  # (L, H, Q, K)
    head, share = previous_token_head(first[0])
    assert share > 0.9  # a real previous-token head in the first layer
    early = np.mean([first[0, h].mean(0).max() for h in range(6)])  # by loop: the most-read key, averaged
    late = np.mean([first[-1, h].mean(0).max() for h in range(6)])
    assert late > early  # the last layer's heads are more stripe-like
    caption = early_vs_late_caption(first, tokens[0][:n], name, head, share)
    assert f"{early:.0%} of a row on average in the first layer and {late:.0%} in the last" in caption
    assert "more stripe-like" in caption


def test_claim_tiny_gpt2_has_a_previous_token_and_an_induction_head():
    from intermediate.attention_comparison import decoder_batch, induction_scores, previous_token_head

    weights, _, _, tokens, _ = decoder_batch(None, "cpu")  # (L, B, H, T, T)
    assert np.abs(np.triu(weights[:, 0], k=1)).max() == 0  # the causal mask: nothing above the diagonal
    assert previous_token_head(weights[0, 0])[1] > 0.9
    sequence = tokens[0]
    half = (len(sequence) - 1) // 2  # BOS, then the random half twice
    queries = range(1 + half, len(sequence))
    by_hand = [np.mean([weights[-1, 0, h, q, q - half + 1] for q in queries]) for h in range(weights.shape[2])]
    np.testing.assert_allclose(induction_scores(weights[-1, 0], sequence), by_hand, atol=1e-6)  # float32
    assert max(by_hand) > 0.8


# ------------------------------------------------------------------------------------------ issue 14: bad input
from bad_attention import (  # noqa: E402
    PROPERTY_SETTINGS,
    assert_rejects,
    bad_mask,
    each_bad_attention,
    every_mask_kind,
    valid_attention,
)
from hypothesis import given  # noqa: E402


@each_bad_attention((2, 3, 5, 5))
def test_depth_functions_reject_bad_attention(bad):
    from intermediate.attention_comparison import early_vs_late

    _, array = bad
    assert_rejects(lambda: attention_entropy(array), "weights")
    assert_rejects(lambda: depth_statistics(array), "attention")
    assert_rejects(lambda: early_vs_late(array, list("abcde"), "toy"), "attention")
    five = None if array is None or isinstance(array, str) else np.asarray(array)[None]  # (L, B=1, H, Q, K)
    assert_rejects(lambda: row_statistics(array if five is None else np.moveaxis(five, 0, 1)), "attention")


@each_bad_attention((3, 5, 5))
def test_one_layer_scores_reject_bad_attention(bad):
    from intermediate.attention_comparison import induction_scores, most_read_key, previous_token_head

    _, array = bad
    assert_rejects(lambda: previous_token_head(array), "layer_weights")
    assert_rejects(lambda: most_read_key(array), "layer_weights")
    assert_rejects(lambda: induction_scores(array, list("abcab")), "layer_weights")


@PROPERTY_SETTINGS
@given(bad=bad_mask(5))
@every_mask_kind(5)
def test_entropy_and_statistics_reject_bad_masks(bad):
    _, mask = bad
    attention = valid_attention((2, 1, 3, 5, 5))  # (L, B, H, Q, K)
    assert_rejects(lambda: attention_entropy(attention[:, 0], mask), "mask")
    assert_rejects(lambda: row_statistics(attention, mask if np.ndim(mask) != 1 else mask[None]), "attention_mask")


def test_causal_statistics_refuse_bidirectional_attention():
    """Before: causal=True on bidirectional attention gave entropy fractions up to 2.26."""
    bidirectional = valid_attention((1, 1, 2, 6, 6))  # (L, B, H, Q, K): weight above the diagonal
    error = assert_rejects(lambda: row_statistics(bidirectional, causal=True), "causal")
    assert "bidirectional" in str(error)
    assert_rejects(lambda: depth_statistics(bidirectional[:, 0], causal=True), "causal")
    causal = np.tril(bidirectional)
    causal /= causal.sum(-1, keepdims=True)
    fraction = row_statistics(causal, causal=True)["entropy_fraction"]
    assert np.nanmax(fraction) <= 1 + 1e-12  # a fraction of log(keys seen) can never exceed 1


def test_causal_check_ignores_padding_rows():
    """A left-padded decoder's padding rows can be uniform over every key; only real rows must be causal."""
    causal = np.tril(np.ones((5, 5)))
    causal /= causal.sum(-1, keepdims=True)
    padded = causal.copy()
    padded[0] = 1 / 5  # the padding query row: uniform, also above the diagonal
    mask = np.array([[0, 1, 1, 1, 1]])
    padded[1:, 0] = 0.0  # real rows put nothing on the padding key
    padded[1:] /= padded[1:].sum(-1, keepdims=True)
    stats = row_statistics(padded[None, None, None], attention_mask=mask, causal=True)  # (L, B, H, Q)
    assert np.isnan(stats["entropy"][0, 0, 0, 0]) and np.isfinite(stats["entropy"][0, 0, 0, 1:]).all()
