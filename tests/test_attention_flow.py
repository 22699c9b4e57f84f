"""Attention flow (``03_advanced/attention_flow.py``) against networkx, hand-computed cases, and bad input.

The reference is written here, plainly: the layered graph of Abnar & Zuidema (2020) built edge by edge and
``networkx.maximum_flow_value`` for every pair — never the lesson's own helpers.
"""

import networkx as nx
import numpy as np
import pytest
import torch

from advanced.attention_flow import (
    AttentionFlow,
    gradient_weighted_flow,
    residual_capacities,
)
from attnviz.gradients import attention_gradients
from attnviz.maxflow import cut_upper_bounds


def softmax_heads(seed, n_layers, n_heads, n, sharpness):
    rng = np.random.default_rng(seed)
    scores = rng.normal(size=(n_layers, n_heads, n, n)) * sharpness
    weights = np.exp(scores - scores.max(-1, keepdims=True))
    return weights / weights.sum(-1, keepdims=True)  # (L, H, Q, K)


def reference_capacities(weights):
    """Head mean, 0.5·A + 0.5·I, rows renormalised — written out by hand."""
    n = weights.shape[-1]
    fused = weights.mean(1)
    hat = 0.5 * fused + 0.5 * np.eye(n)
    return hat / hat.sum(-1, keepdims=True)  # (L, Q, K)


def networkx_flow(caps, rows=None):
    """Max-flow from token i at the top (layer L) to token j at the input (layer 0), per pair (of ``rows``)."""
    n_layers, n = caps.shape[:2]
    graph = nx.DiGraph()
    for layer in range(1, n_layers + 1):
        for i in range(n):
            for j in range(n):
                graph.add_edge(f"{layer}:{i}", f"{layer - 1}:{j}", capacity=float(caps[layer - 1, i, j]))
    return np.array([[nx.maximum_flow_value(graph, f"{n_layers}:{i}", f"0:{j}") for j in range(n)]
                     for i in (range(n) if rows is None else rows)])


_NETWORKX_CASES: dict = {}


def networkx_case(seed, n_layers, n_heads, n, sharpness):
    """``networkx_flow`` of one parametrised case, computed once per test run (several tests share CASES)."""
    key = (seed, n_layers, n_heads, n, sharpness)
    if key not in _NETWORKX_CASES:
        _NETWORKX_CASES[key] = networkx_flow(reference_capacities(softmax_heads(*key)))
    return _NETWORKX_CASES[key]


CASES = [  # (seed, layers, heads, tokens, sharpness): up to 10 tokens × 4 layers, smooth to very sharp
    (0, 1, 2, 5, 2.0), (1, 2, 3, 7, 4.0), (2, 3, 2, 9, 2.0), (3, 3, 1, 10, 8.0),
    (4, 4, 3, 8, 1.0), (5, 4, 1, 10, 4.0), (6, 4, 2, 10, 16.0), (7, 3, 4, 6, 0.3),
]


@pytest.mark.parametrize(("seed", "n_layers", "n_heads", "n", "sharpness"), CASES)
def test_flow_equals_networkx_max_flow(seed, n_layers, n_heads, n, sharpness):
    weights = softmax_heads(seed, n_layers, n_heads, n, sharpness)
    flow, info = AttentionFlow().compute_flow(list(weights), return_info=True)
    expected = networkx_case(seed, n_layers, n_heads, n, sharpness)
    np.testing.assert_allclose(flow, expected, atol=1e-6, rtol=0)
    assert info.error_bound <= 1e-6 and info.pairs == n * n


def test_pairs_searched_to_the_end_equal_networkx():
    """Smooth attention over 3 layers: the structured cuts are not tight for many pairs, so the search runs to
    the end and certifies with the cut it proves itself. The proven error bound must cover the true error."""
    weights = softmax_heads(11, 3, 4, 12, 0.3)
    flow, info = AttentionFlow().compute_flow(list(weights), return_info=True)
    assert info.solved > 0 and info.certified + info.solved == info.pairs
    error = np.abs(flow - networkx_flow(reference_capacities(weights))).max()
    assert error <= info.error_bound <= 1e-7


def test_a_tight_tolerance_is_met_or_reported():
    """With tolerance 1e-12 every returned value is within the reported bound of networkx's, and that bound
    is far below the default tolerance."""
    weights = softmax_heads(11, 4, 1, 9, 6.0)
    flow, info = AttentionFlow(tolerance=1e-12).compute_flow(list(weights), return_info=True)
    error = np.abs(flow - networkx_flow(reference_capacities(weights))).max()
    assert error <= max(info.error_bound, 1e-15) and info.error_bound < 1e-9


def test_pruned_lower_bound_path_on_a_larger_network():
    """36 tokens × 3 layers, checked against networkx on a few pairs."""
    weights = softmax_heads(12, 3, 4, 36, 1.0)
    flow = AttentionFlow().compute_flow(list(weights))
    caps = reference_capacities(weights)
    graph = nx.DiGraph()
    for layer in range(1, 4):
        for i in range(36):
            for j in range(36):
                graph.add_edge((layer, i), (layer - 1, j), capacity=float(caps[layer - 1, i, j]))
    for i, j in [(0, 0), (5, 17), (35, 2), (20, 20)]:
        assert abs(flow[i, j] - nx.maximum_flow_value(graph, (3, i), (0, j))) < 1e-6


def test_parallel_workers_give_the_same_flow():
    weights = softmax_heads(13, 4, 2, 10, 6.0)
    serial = AttentionFlow(workers=1).compute_flow(list(weights))
    parallel = AttentionFlow(workers=2).compute_flow(list(weights))
    np.testing.assert_array_equal(parallel, serial)
    np.testing.assert_allclose(parallel, networkx_flow(reference_capacities(weights)), atol=1e-6, rtol=0)


def test_one_row_shared_by_sink_between_workers():
    """One source row and two workers: the sinks are split between two threads (each warm-starts its own
    block of sinks), and the row equals networkx's."""
    weights = softmax_heads(16, 4, 3, 11, 3.0)
    row = AttentionFlow(workers=2).compute_flow(list(weights), rows=[7])
    np.testing.assert_allclose(row, networkx_flow(reference_capacities(weights), rows=[7]), atol=1e-7, rtol=0)


@pytest.mark.parametrize(("seed", "n_layers", "n_heads", "n", "sharpness"), CASES[2:])
def test_coarse_threshold_is_caught_and_solved_again(seed, n_layers, n_heads, n, sharpness, monkeypatch):
    """An arc counted as full while it still has 2⁻¹² left leaves flows short of their cuts; the solver must
    notice (cut − flow above the tolerance) and solve those pairs again with the fine threshold."""
    import attnviz.maxflow as maxflow

    monkeypatch.setattr(maxflow, "EPS", 2.0**-12)
    weights = softmax_heads(seed, n_layers, n_heads, n, sharpness)
    flow, info = AttentionFlow().compute_flow(list(weights), return_info=True)
    np.testing.assert_allclose(flow, networkx_case(seed, n_layers, n_heads, n, sharpness), atol=1e-7, rtol=0)
    assert info.error_bound <= 1e-7


def test_rows_give_the_same_rows_as_all_pairs():
    weights = softmax_heads(15, 4, 2, 9, 3.0)
    full = networkx_flow(reference_capacities(weights))
    np.testing.assert_allclose(AttentionFlow().compute_flow(list(weights), rows=[4, 0]), full[[4, 0]],
                               atol=1e-7, rtol=0)
    padded = np.zeros((4, 2, 11, 11))
    padded[..., :9, :9] = weights
    padded[..., 9:, :] = 1 / 11
    rows = AttentionFlow().compute_flow(list(padded), attention_mask=[1] * 9 + [0, 0], rows=[2])
    np.testing.assert_allclose(rows[:, :9], full[[2]], atol=1e-7, rtol=0)
    assert rows.shape == (1, 11) and (rows[:, 9:] == 0).all()
    with pytest.raises(ValueError, match="padding"):
        AttentionFlow().compute_flow(list(padded), attention_mask=[1] * 9 + [0, 0], rows=[10])


@pytest.mark.parametrize("seed", range(4))
def test_flow_never_exceeds_the_smallest_layer_cut(seed):
    weights = softmax_heads(seed, 4, 2, 8, 3.0)
    caps = reference_capacities(weights)
    flow = AttentionFlow().compute_flow(list(weights))
    # cutting every edge between two layers disconnects i from j: top layer row i, input layer column j, or a
    # whole middle layer (capacity n, never the smallest)
    layer_cuts = np.minimum(caps[-1].sum(-1)[:, None], caps[0].sum(0)[None, :])  # (i, j)
    assert (flow <= layer_cuts + 1e-9).all()
    assert (flow > 0).all()


def test_one_layer_flow_is_the_capacity_matrix():
    weights = softmax_heads(3, 1, 4, 6, 2.0)
    np.testing.assert_allclose(AttentionFlow().compute_flow(list(weights)), reference_capacities(weights)[0], atol=1e-12)


def test_two_layers_by_hand():
    """Three tokens, one middle layer: every path i -> k -> j is its own, so F = Σ_k min(top[i, k], bottom[k, j])."""
    bottom = np.array([[0.6, 0.3, 0.1], [0.2, 0.5, 0.3], [0.25, 0.25, 0.5]])
    top = np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.3, 0.3, 0.4]])
    flow = AttentionFlow().flow_from_capacities(np.stack([bottom, top]))
    # F[0, 0] = min(.7,.6) + min(.2,.2) + min(.1,.25) = .6 + .2 + .1 ; F[2, 1] = min(.3,.3)+min(.3,.5)+min(.4,.25)
    assert flow[0, 0] == pytest.approx(0.9)
    assert flow[2, 1] == pytest.approx(0.85)
    np.testing.assert_allclose(flow, networkx_flow(np.stack([bottom, top])), atol=1e-12)


def test_normalize_gives_rows_summing_to_one():
    weights = softmax_heads(5, 3, 2, 7, 2.0)
    raw = AttentionFlow().compute_flow(list(weights))
    normalized = AttentionFlow().compute_flow(list(weights), normalize=True)
    np.testing.assert_allclose(normalized.sum(-1), 1.0, atol=1e-12)
    np.testing.assert_allclose(normalized, raw / raw.sum(-1, keepdims=True), atol=1e-12)
    assert not np.allclose(raw.sum(-1), 1.0)  # the raw flow is not a distribution


def test_tensor_and_array_inputs_agree():
    weights = softmax_heads(6, 3, 2, 6, 2.0)
    from_list = AttentionFlow().compute_flow([torch.tensor(w) for w in weights])
    from_array = AttentionFlow().compute_flow(weights)
    np.testing.assert_allclose(from_list, from_array, atol=1e-12)


def test_padding_mask_gives_the_unpadded_flow():
    weights = softmax_heads(8, 3, 2, 5, 2.0)  # 5 real tokens
    padded = np.zeros((3, 2, 7, 7))
    padded[..., :5, :5] = weights
    padded[..., 5:, :] = 1 / 7  # padding rows still hold a distribution
    flow = AttentionFlow().compute_flow(list(padded), attention_mask=[1, 1, 1, 1, 1, 0, 0])
    np.testing.assert_allclose(flow[:5, :5], AttentionFlow().compute_flow(list(weights)), atol=1e-9)
    assert (flow[5:] == 0).all() and (flow[:, 5:] == 0).all()


def test_cut_upper_bounds_are_valid_and_usually_tight():
    weights = softmax_heads(9, 4, 3, 8, 1.0)
    caps = reference_capacities(weights)
    expected = networkx_flow(caps)
    bounds = cut_upper_bounds(caps)
    assert (bounds >= expected - 1e-12).all()
    assert np.isclose(bounds, expected, atol=1e-9).mean() > 0.9


def test_residual_capacities_of_gradient_maps():
    maps = np.array([[[2.0, 0.0], [0.0, 0.0]]])  # one layer; the second row is all zero
    with pytest.raises(ValueError, match="fused"):
        residual_capacities(maps)  # by default the fused attention must be row-stochastic
    caps = residual_capacities(maps, stochastic=False)
    np.testing.assert_allclose(caps[0], [[1.0, 0.0], [0.0, 1.0]])  # zero row: the residual alone
    flow = AttentionFlow().compute_flow_fused(np.stack([maps[0], [[1.0, 3.0], [1.0, 1.0]]]))
    assert flow.shape == (2, 2) and (flow >= 0).all()


# ------------------------------------------------------------------------------ gradient-weighted flow
@pytest.fixture(scope="module")
def tiny_bert():
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    config = BertConfig(vocab_size=40, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=32, attn_implementation="eager")
    return BertModel(config).double().eval()


def test_gradient_with_respect_to_attention_matches_finite_differences(tiny_bert, monkeypatch):
    """∂y/∂A from retain_grad() against a central difference that nudges one attention probability."""
    import transformers.models.bert.modeling_bert as bert

    inputs = {"input_ids": torch.tensor([[3, 7, 11, 5, 9]]), "attention_mask": torch.ones(1, 5, dtype=torch.long)}

    def target(outputs):
        return outputs.last_hidden_state[:, 0, :3].sum(-1)  # (B,)

    attention, grads = attention_gradients(tiny_bert, inputs, target)
    assert attention.shape == grads.shape == (2, 1, 2, 5, 5)
    original = bert.eager_attention_forward
    nudge = {}

    def nudged(module, query, key, value, attention_mask, scaling=None, dropout=0.0, **kwargs):
        weights = torch.softmax(torch.matmul(query, key.transpose(2, 3)) * scaling
                                + (attention_mask if attention_mask is not None else 0), dim=-1)
        if module is nudge.get("module"):
            weights = weights + nudge["delta"]
        return torch.matmul(weights, value).transpose(1, 2).contiguous(), weights

    monkeypatch.setattr(bert, "eager_attention_forward", nudged)
    eps = 1e-6
    for layer, head, q, k in [(0, 1, 2, 3), (1, 0, 0, 4), (1, 1, 4, 0)]:
        nudge["module"] = tiny_bert.encoder.layer[layer].attention.self
        values = []
        for sign in (1, -1):
            delta = torch.zeros(1, 2, 5, 5, dtype=torch.float64)
            delta[0, head, q, k] = sign * eps
            nudge["delta"] = delta
            with torch.no_grad():
                values.append(float(target(tiny_bert(**inputs))[0]))
        assert grads[layer, 0, head, q, k] == pytest.approx((values[0] - values[1]) / (2 * eps), rel=1e-5, abs=1e-9)
    monkeypatch.setattr(bert, "eager_attention_forward", original)


def test_gradient_weighted_flow_is_the_head_mean_of_a_times_abs_gradient():
    rng = np.random.default_rng(0)
    attention = softmax_heads(1, 2, 3, 4, 1.0)
    grads = rng.normal(size=attention.shape)
    maps = gradient_weighted_flow(attention, grads)
    by_hand = np.zeros((2, 4, 4))
    for layer in range(2):
        for head in range(3):
            by_hand[layer] += attention[layer, head] * np.abs(grads[layer, head]) / 3
    np.testing.assert_allclose(maps, by_hand, atol=1e-12)


# ------------------------------------------------------------------------------------------ bad input (§7)
@pytest.mark.parametrize(("bad", "error", "words"), [
    ([], ValueError, "empty list"),
    ("attention", TypeError, "attention_layers"),
    (np.full((2, 2, 3, 3), 1 / 3)[0], ValueError, "wrap it in a list"),
    ([np.full((2, 3, 3), 1 / 3), np.full((2, 4, 4), 1 / 4)], ValueError, "differs from layer 0"),
    ([np.full((3, 3), 1 / 3)], ValueError, "expected 3 dimensions"),
    ([np.full((2, 3, 4), 1 / 4)], ValueError, "square"),
    ([np.where(np.eye(3) > 0, np.nan, 0.5)[None]], ValueError, "NaN"),
    ([np.array([[[1.2, -0.2], [0.5, 0.5]]])], ValueError, "negative"),
    ([np.full((1, 3, 3), 0.5)], ValueError, "sum to 1"),
])
def test_bad_attention_is_rejected_with_a_clear_message(bad, error, words):
    with pytest.raises(error, match=words):
        AttentionFlow().compute_flow(bad)


def test_bad_options_and_masks_are_rejected():
    weights = list(softmax_heads(0, 2, 2, 4, 1.0))
    with pytest.raises(ValueError, match="head_fusion"):
        AttentionFlow(head_fusion="median")
    with pytest.raises(ValueError, match="tolerance"):
        AttentionFlow(tolerance=0.1)
    with pytest.raises(ValueError, match="workers"):
        AttentionFlow(workers=0)
    with pytest.raises(ValueError, match=r"attention_mask: got shape \(3,\); expected \(4,\)"):
        AttentionFlow().compute_flow(weights, attention_mask=[1, 1, 0])
    with pytest.raises(ValueError, match="no real token"):
        AttentionFlow().compute_flow(weights, attention_mask=[0, 0, 0, 0])
    with pytest.raises(ValueError, match="capacities"):
        AttentionFlow().flow_from_capacities(np.full((2, 3, 3), 0.5))  # rows sum to 1.5
    with pytest.raises(ValueError, match="gradients: shape"):
        gradient_weighted_flow(softmax_heads(0, 2, 2, 4, 1.0), np.zeros((2, 2, 4, 3)))
    with pytest.raises(TypeError, match="target"):
        attention_gradients(None, {}, target="logit")


# ------------------------------------------------------------------------------------------ claims (issue 13)
# Every caption of the lesson that states a measurement is filled by the functions below; they are checked
# against hand-computed cases, and the direction each caption states is asserted on the lesson's default input
# (MiniLM, DEFAULT_TEXT), so that the gallery cannot keep a claim the model stops supporting.
def test_column_spread_and_row_entropy_by_hand():
    from advanced.attention_flow import column_spread, mass_on, row_entropy_fraction

    matrix = np.array([[0.5, 0.5, 0.0], [0.1, 0.6, 0.3]])
    assert column_spread(matrix) == pytest.approx((0.4 + 0.1 + 0.3) / 3)
    assert row_entropy_fraction(np.full((2, 4), 0.25)) == pytest.approx(1.0)
    assert row_entropy_fraction(np.eye(3)) == pytest.approx(0.0)
    by_hand = (np.log(2) + -(0.1 * np.log(0.1) + 0.6 * np.log(0.6) + 0.3 * np.log(0.3))) / 2 / np.log(3)
    assert row_entropy_fraction(matrix) == pytest.approx(by_hand)
    assert mass_on(np.array([[2.0, 1.0, 1.0], [0.0, 1.0, 3.0]]), [1, 0, 1]) == pytest.approx((0.75 + 0.75) / 2)
    assert mass_on(matrix, [0, 0, 0]) == 0.0
    with pytest.raises(ValueError, match="columns"):
        mass_on(matrix, [1, 0])


def test_bound_counts_against_networkx():
    from advanced.attention_flow import bound_counts

    weights = softmax_heads(21, 3, 2, 6, 3.0)
    caps = reference_capacities(weights)
    flow = networkx_flow(caps)
    counts = bound_counts(flow, caps, row=2)
    trivial = np.minimum(1.0, caps[0].sum(0))
    at = np.abs(flow - trivial[None]) < 1e-6
    assert counts["row_at"] == at[2].sum() and counts["row_total"] == 6
    assert counts["share_all"] == pytest.approx(at.mean()) and counts["below"] == (~at).sum()
    assert 0 <= counts["below_on_lane_cut"] <= counts["below"]
    with pytest.raises(ValueError, match="row"):
        bound_counts(flow, caps, row=6)


@pytest.fixture(scope="module")
def default_flow():
    from advanced.attention_flow import DEFAULT_TEXT
    from attnviz.grading.fixtures import minilm_attention
    from intermediate.attention_rollout import AttentionRollout

    weights, tokens = minilm_attention(DEFAULT_TEXT)  # (L, H, Q, K)
    flow_model = AttentionFlow()
    return {"weights": weights, "tokens": list(tokens), "caps": flow_model.capacities(list(weights)),
            "flow": flow_model.compute_flow(list(weights)),
            "rollout": AttentionRollout().compute_rollout(list(weights))}


def test_claim_flow_columns_vary_more_than_rollout(default_flow):
    """The old caption said flow is 'nearly constant down each column'; measured, its columns vary more."""
    from advanced.attention_flow import column_spread, flow_rollout_caption

    flow, rollout = default_flow["flow"], default_flow["rollout"]
    assert column_spread(flow) == pytest.approx(np.mean(flow.max(0) - flow.min(0)))
    assert column_spread(flow) > 3 * column_spread(rollout)
    assert "flow is not constant down its columns" in flow_rollout_caption(flow, rollout)


def test_claim_flow_rows_spread_rollout_rows_concentrate(default_flow):
    from scipy.stats import entropy

    from advanced.attention_flow import row_entropy_fraction, row_shape_caption

    flow, rollout = default_flow["flow"], default_flow["rollout"]
    n = flow.shape[0]
    flow_h = np.mean([entropy(row) for row in flow]) / np.log(n)  # scipy normalises each row itself
    assert row_entropy_fraction(flow) == pytest.approx(flow_h)
    assert flow_h > 0.95 > 0.8 > row_entropy_fraction(rollout)
    assert "flow spreads, rollout concentrates" in row_shape_caption(flow / flow.sum(1, keepdims=True), rollout)


def test_claim_bottleneck_title_states_the_drawn_row(default_flow):
    """[CLS]'s row is mostly *below* the bound while most pairs overall are on it: the title says both."""
    from advanced.attention_flow import bound_counts
    from attnviz.flow_figures import bottleneck_caption, bottleneck_title

    flow, caps, tokens = default_flow["flow"], default_flow["caps"], default_flow["tokens"]
    counts = bound_counts(flow, caps, row=0)
    trivial = np.minimum(1.0, reference_capacities(default_flow["weights"])[0].sum(0))  # (K,)
    at = np.abs(flow - trivial[None]) < 1e-6
    assert counts["row_at"] == at[0].sum() < len(tokens) / 2  # the drawn row: a minority at the bound
    assert at.mean() > 0.5 and counts["share_all"] == pytest.approx(at.mean())  # all pairs: most at the bound
    title = bottleneck_title(counts, 0, tokens[0])
    assert f"{at[0].sum()} of {len(tokens)} flows at the bound" in title and f"{100 * at.mean():.0f}%" in title
    assert bottleneck_caption(counts).startswith("One top position") and "Most flows" in bottleneck_caption(counts)


def test_claim_gradient_weighting_spreads_credit_evenly(default_flow):
    """Folklore: the gradient 'moves credit to content words'. Measured: it takes credit from [CLS]/[SEP],
    but spreads it almost evenly (the mean row is nearly flat)."""
    from advanced.attention_flow import DEFAULT_OTHER, DEFAULT_TEXT, gradient_maps, gradient_shares
    from attnviz.flow_figures import gradient_caption
    from attnviz.grading.fixtures import minilm
    from attnviz.models import encode_texts

    model, tokenizer = minilm()
    inputs = encode_texts(tokenizer, DEFAULT_TEXT, model)
    assert tokenizer.convert_ids_to_tokens(inputs["input_ids"][0].tolist()) == default_flow["tokens"]
    maps, _ = gradient_maps(model, inputs, DEFAULT_OTHER, tokenizer)  # (L, Q, K)
    special = np.isin(default_flow["tokens"], ["[CLS]", "[SEP]"])
    measured = gradient_shares(maps, default_flow["rollout"], default_flow["flow"], special)
    shares, entropies = measured["shares"], measured["entropies"]
    grad_rollout = measured["maps"]["gradient rollout"]
    assert shares["gradient rollout"] == pytest.approx(grad_rollout[:, special].sum(1).mean())
    assert shares["gradient rollout"] < shares["rollout"] / 2  # credit leaves [CLS]/[SEP] ...
    assert entropies["gradient rollout"] > 0.95  # ... but lands almost evenly, not on a few words
    assert np.ptp(grad_rollout.mean(0)) < 0.1  # the mean row is nearly flat
    caption = gradient_caption(shares, entropies, ["[CLS]", "[SEP]"])
    assert "but not onto a few content words" in caption and f"{100 * shares['rollout']:.0f}%" in caption


# ------------------------------------------------------------------------ bad input, property-based (issue 14)
# Every public function of the lesson and of attnviz/maxflow.py that takes attention, capacities or a flow, on
# tiny inputs (2 layers × 4 tokens: nothing is solved before the input is rejected).
from bad_attention import (  # noqa: E402
    PROPERTY_SETTINGS,
    assert_rejects,
    bad_mask,
    each_bad_attention,
    every_mask_kind,
    valid_attention,
)
from hypothesis import given  # noqa: E402

NOT_STOCHASTIC = ("nan", "inf", "negative", "empty", "extra_dim", "missing_dim", "wrong_keys", "string", "none")
# ^ for the functions that take maps which need not sum to 1 per row (a flow, gradient-weighted maps): an
#   unnormalised or transposed matrix is a legitimate input there, as their docstrings say


def test_residual_capacities_rejects_all_nan_instead_of_identity():
    """The silent case of the issue: an all-NaN input used to become identity capacities."""
    assert_rejects(lambda: residual_capacities(np.full((2, 4, 4), np.nan)), "fused")
    assert_rejects(lambda: residual_capacities(np.full((2, 4, 4), np.nan), stochastic=False), "fused")


@each_bad_attention((2, 4, 4))
def test_capacity_functions_reject_bad_capacities(bad):
    from advanced.attention_flow import bound_counts, closed_form_flow, flow_networkx, layered_graph
    from attnviz.maxflow import all_pairs_max_flow

    kind, array = bad
    assert_rejects(lambda: residual_capacities(array), "fused")
    assert_rejects(lambda: closed_form_flow(array), "capacities")
    assert_rejects(lambda: layered_graph(array), "capacities")
    assert_rejects(lambda: flow_networkx(array), "capacities")
    assert_rejects(lambda: cut_upper_bounds(array), "capacities")
    assert_rejects(lambda: all_pairs_max_flow(array), "capacities")
    assert_rejects(lambda: AttentionFlow().flow_from_capacities(array), "capacities")
    assert_rejects(lambda: bound_counts(np.full((4, 4), 0.5), array, row=0), "capacities")


@each_bad_attention((2, 3, 4, 4))
def test_attention_entry_points_reject_bad_attention(bad):
    kind, array = bad
    flow = AttentionFlow()
    assert_rejects(lambda: flow.compute_flow(array), "attention_layers", "attention")
    assert_rejects(lambda: flow.capacities(array), "attention_layers", "attention")
    assert_rejects(lambda: gradient_weighted_flow(array, np.ones((2, 3, 4, 4))), "attention")


@each_bad_attention((2, 4, 4), kinds=NOT_STOCHASTIC)
def test_map_functions_reject_bad_maps(bad):
    """Maps that need not sum to 1 per row: still finite, non-negative and of the right shape."""
    from advanced.attention_flow import column_spread, gradient_shares, mass_on, row_entropy_fraction

    kind, array = bad
    good = valid_attention((4, 4))
    assert_rejects(lambda: AttentionFlow().compute_flow_fused(array), "fused_layers")
    assert_rejects(lambda: residual_capacities(array, stochastic=False), "fused")
    assert_rejects(lambda: gradient_shares(array, good, good, [1, 0, 0, 1]), "maps")
    whole = ("none", "string", "missing_dim", "extra_dim")  # wrong as they are; the others: (2·Q, K), cell kept
    matrix = array if kind in whole else np.concatenate(list(array))
    if kind != "wrong_keys":  # any (Q, K) is a legitimate map
        assert_rejects(lambda: column_spread(matrix), "matrix")
        assert_rejects(lambda: row_entropy_fraction(matrix), "matrix")
        assert_rejects(lambda: mass_on(matrix, [1, 0, 0, 0]), "matrix")
        assert_rejects(lambda: AttentionFlow().visualize(matrix, list("abcd")), "flow")


@PROPERTY_SETTINGS
@given(bad=bad_mask(4))
@every_mask_kind(4)
def test_compute_flow_rejects_bad_masks(bad):
    kind, mask = bad
    assert_rejects(lambda: AttentionFlow().compute_flow(valid_attention((2, 2, 4, 4)), attention_mask=mask),
                   "attention_mask")


@pytest.mark.parametrize(("rows", "error", "words"), [
    ([4], ValueError, "out of range"), ([-5], ValueError, "out of range"), ([], ValueError, "non-empty"),
    ("0", TypeError, "rows"), ([0.5], TypeError, "integer"), ([True], TypeError, "integer"),
    ([[0, 1]], ValueError, "rows"),
])
def test_rows_out_of_range_or_not_integers_are_rejected(rows, error, words):
    from attnviz.maxflow import all_pairs_max_flow

    weights = valid_attention((3, 2, 4, 4))
    caps = reference_capacities(weights)
    for call in (lambda: AttentionFlow().compute_flow(weights, rows=rows),
                 lambda: AttentionFlow().flow_from_capacities(caps, rows=rows),
                 lambda: all_pairs_max_flow(caps, rows=rows)):
        if rows == [-5] or call is not None:
            err = assert_rejects(call, "rows")
            assert isinstance(err, error) and words in str(err), str(err)
    assert AttentionFlow().compute_flow(weights, rows=[-1]).shape == (1, 4)  # Python-style: the last row
    with pytest.raises(ValueError, match="out of range"):
        AttentionFlow().flow_from_capacities(caps, rows=[-1])  # the solver's own entry point wants 0 ≤ row < n
