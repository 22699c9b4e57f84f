"""Multi-head grids and head similarity, checked against SciPy's Jensen–Shannon distance and by hand."""

import numpy as np
import pytest
from scipy.spatial.distance import jensenshannon

from attnviz.grading.fixtures import minilm_attention, random_attention
from attnviz.plotting import describe_figure
from intermediate.multihead_visualization import (
    MultiHeadVisualizer,
    grid_shape,
    head_distances,
    jensen_shannon_distance,
    layer_collapse,
    redundant_heads,
    row_collapse,
)


def test_js_distance_matches_scipy_and_handles_zeros():
    p = random_attention(0, (5, 7))
    q = random_attention(1, (5, 7))
    p[:, 0] = 0.0  # zeros where the other is not: 0·log 0 = 0, no NaN
    p /= p.sum(-1, keepdims=True)
    got = jensen_shannon_distance(p, q)
    want = [jensenshannon(p[i], q[i], base=2) for i in range(5)]
    np.testing.assert_allclose(got, want, atol=1e-10)
    assert jensen_shannon_distance([1.0, 0.0], [0.0, 1.0]) == pytest.approx(1.0)  # disjoint supports
    assert jensen_shannon_distance([0.5, 0.5], [0.5, 0.5]) == pytest.approx(0.0)


def test_head_distances_equal_a_loop_with_scipy():
    attention = random_attention(3, (2, 3, 5, 5))  # (L, H, Q, K)
    got = head_distances(attention)
    flat = attention.reshape(6, 5, 5)
    want = np.array([[np.mean([jensenshannon(flat[a, q], flat[b, q], base=2) for q in range(5)])
                      for b in range(6)] for a in range(6)])
    np.testing.assert_allclose(got, want, atol=1e-10)
    np.testing.assert_allclose(head_distances(attention[1]), want[3:, 3:], atol=1e-10)  # one layer (H, Q, K)


def test_padding_rows_are_left_out():
    attention = random_attention(4, (3, 5, 5))
    mask = np.array([1, 1, 1, 0, 0])
    got = head_distances(attention, attention_mask=mask)
    want = np.array([[np.mean([jensenshannon(attention[a, q], attention[b, q], base=2) for q in range(3)])
                      for b in range(3)] for a in range(3)])
    np.testing.assert_allclose(got, want, atol=1e-10)


def test_redundant_pair_and_collapse_are_flagged():
    layer = random_attention(5, (4, 6, 6), sharpness=3.0)  # (H, Q, K) distinct heads
    layer[3] = layer[1]  # head 3 repeats head 1
    pairs = redundant_heads(head_distances(layer), threshold=0.05)
    assert [(i, j) for i, j, _ in pairs] == [(1, 3)]
    model = np.stack([random_attention(6, (4, 6, 6), sharpness=3.0), np.repeat(layer[:1], 4, axis=0)])  # (L, H, Q, K)
    report = layer_collapse(model)
    assert report["collapsed_layers"] == [1]
    assert report["mean_distance"][1] == pytest.approx(0.0, abs=1e-12) and report["mean_distance"][0] > 0.3
    as_layer_head = redundant_heads(head_distances(model), threshold=0.05, num_heads=4)
    assert ((1, 0), (1, 1), 0.0) in [(a, b, round(d, 9)) for a, b, d in as_layer_head]


def test_row_collapse_finds_a_vertical_stripe():
    stripe = np.tile([0.7, 0.1, 0.1, 0.1], (4, 1))  # every query reads key 0
    diagonal = np.eye(4) * 0.9 + 0.025
    got = row_collapse(np.stack([stripe, diagonal]))
    assert got[0] == pytest.approx(0.0, abs=1e-12)
    mean_row = diagonal.mean(0)
    assert got[1] == pytest.approx(np.mean([jensenshannon(r, mean_row, base=2) for r in diagonal]))


def test_api_line_on_minilm():
    weights, tokens = minilm_attention("The cat sat on the mat because it was tired.")  # (L, H, Q, K)
    fig = MultiHeadVisualizer(num_heads=12).plot_all_heads(weights[5], tokens=tokens, layer_name="Layer 6")
    info = describe_figure(fig)
    assert len(info["panels"]) == 12 and info["suptitle"].startswith("Layer 6")
    for h, panel in enumerate(info["panels"]):  # row-major 3 × 4 grid, head h in panel h
        np.testing.assert_allclose(panel["data"], weights[5, h])
        assert panel["title"] == f"head {h}" and panel["clim"] == (0.0, 1.0)
    assert info["panels"][0]["xticklabels"] == list(tokens)


def test_model_overview_holds_every_head():
    attention = random_attention(7, (2, 4, 5, 5))
    info = describe_figure(MultiHeadVisualizer(num_heads=4).plot_model_overview(attention))
    assert len(info["panels"]) == 8
    np.testing.assert_allclose(info["panels"][5]["data"], attention[1, 1])
    assert info["panels"][5]["title"] == "L1 H1"


def test_grid_shape():
    assert grid_shape(12) == (3, 4) and grid_shape(8) == (2, 4) and grid_shape(7) == (1, 7) and grid_shape(16) == (4, 4)


@pytest.mark.parametrize(("call", "error", "words"), [
    (lambda v, a: v.plot_all_heads(a[:3], list("abcde")), ValueError, "num_heads=4"),
    (lambda v, a: v.plot_all_heads(a, list("abc")), ValueError, "tokens"),
    (lambda v, a: v.plot_all_heads(a[0, 0], list("abcde")), ValueError, "dimensions"),
    (lambda v, a: v.plot_all_heads(a * np.nan, list("abcde")), ValueError, "NaN"),
    (lambda v, a: v.plot_all_heads(a - 1, list("abcde")), ValueError, "negative"),
    (lambda v, a: v.plot_all_heads(a, "abcde"), TypeError, "tokens"),
    (lambda v, a: v.plot_model_overview(a), ValueError, "dimensions"),
    (lambda v, a: head_distances(a, attention_mask=[1, 1]), ValueError, "attention_mask"),
    (lambda v, a: redundant_heads(np.ones((3, 4))), ValueError, "distances"),
    (lambda v, a: MultiHeadVisualizer(num_heads=0), ValueError, "num_heads"),
])
def test_errors(call, error, words):
    attention = random_attention(8, (4, 5, 5))
    with pytest.raises(error) as info:
        call(MultiHeadVisualizer(num_heads=4), attention)
    assert words in str(info.value)


# ------------------------------------------------------------------------------------------ claims (issue 13)
@pytest.fixture(scope="module")
def default_input():
    from intermediate.multihead_visualization import DEFAULT_TEXT

    weights, tokens = minilm_attention(DEFAULT_TEXT)  # (L, H, Q, K)
    return weights, list(tokens)


def test_head_roles_by_hand():
    from intermediate.multihead_visualization import head_roles

    previous = np.array([[1.0, 0, 0], [1.0, 0, 0], [0, 1.0, 0]])  # rows 1, 2 read the previous token
    uniform = np.full((3, 3), 1 / 3)
    roles = head_roles(np.stack([previous, uniform]))  # (H=2, Q, K)
    np.testing.assert_allclose(roles["previous"], [1.0, 1 / 3])  # mean of A[1,0], A[2,1]
    np.testing.assert_allclose(roles["next"], [0.0, 1 / 3])  # mean of A[0,1], A[1,2]
    np.testing.assert_allclose(roles["self"], [1 / 3, 1 / 3])  # A[0,0]=1, A[1,1]=0, A[2,2]=0
    np.testing.assert_allclose(roles["first"], [2 / 3, 1 / 3])
    np.testing.assert_allclose(roles["last"], [0.0, 1 / 3])


def test_claim_all_heads_names_only_patterns_that_are_there(default_input):
    """The default layer has a previous-token head; no head of it reads [SEP] at the threshold."""
    from attnviz.multihead_figures import all_heads_caption
    from intermediate.multihead_visualization import DEFAULT_LAYER, ROLE_THRESHOLD, head_roles

    weights, tokens = default_input
    layer = weights[DEFAULT_LAYER]  # (H, Q, K)
    n = len(tokens)
    previous = np.array([np.mean([layer[h, i, i - 1] for i in range(1, n)]) for h in range(12)])
    roles = head_roles(layer)
    np.testing.assert_allclose(roles["previous"], previous)
    assert previous.max() > 0.9  # a real previous-token head
    assert layer[..., -1].mean(-1).max() < ROLE_THRESHOLD  # [SEP] is not a pattern here
    caption = all_heads_caption(roles, DEFAULT_LAYER, tokens)
    assert f"heads reading the previous token: {int(np.argmax(previous))} (" in caption
    assert "heads reading the last token" not in caption and "the last token ([SEP]) ≤" in caption
    # the old default, the last layer, has neither pattern: the caption must not name them
    last = all_heads_caption(head_roles(weights[-1]), 5, tokens)
    assert "heads reading the previous token" not in last and "heads reading the last token" not in last


def test_claim_later_layers_stripe_on_cls(default_input):
    from intermediate.multihead_visualization import stripe_heads_per_layer

    weights, tokens = default_input
    counts = stripe_heads_per_layer(weights)
    by_loop = [sum(np.mean(weights[i, h, :, 0]) >= 0.3 for h in range(12)) for i in range(len(weights))]
    np.testing.assert_array_equal(counts, by_loop)
    assert tokens[0] == "[CLS]" and counts[1:].min() > counts[0]  # from layer 1 on, more heads stripe on [CLS]
    assert counts[1:].min() > weights.shape[1] / 2  # the docstring: 'from the second layer on most heads'
    assert (weights[..., -1].mean(-1) >= 0.3).sum() == 0  # and none on [SEP] anywhere in the model


def test_claim_synthetic_collapse_is_flagged_and_the_real_layer_is_not(default_input):
    from intermediate.multihead_visualization import DEFAULT_LAYER, collapsed_layer_demo

    weights, _ = default_input
    fake = weights.copy()
    fake[DEFAULT_LAYER] = collapsed_layer_demo(weights[DEFAULT_LAYER])
    assert DEFAULT_LAYER not in layer_collapse(weights)["collapsed_layers"]
    assert DEFAULT_LAYER in layer_collapse(fake)["collapsed_layers"]


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


@each_bad_attention((4, 5, 5))
def test_one_layer_functions_reject_bad_attention(bad):
    from intermediate.multihead_visualization import collapsed_layer_demo, head_roles

    _, array = bad
    assert_rejects(lambda: head_distances(array), "attention")
    assert_rejects(lambda: row_collapse(array), "attention")
    assert_rejects(lambda: head_roles(array), "layer_weights")
    assert_rejects(lambda: collapsed_layer_demo(array), "layer")
    assert_rejects(lambda: MultiHeadVisualizer(num_heads=4).plot_all_heads(array, list("abcde")),
                   "attention_weights")


@each_bad_attention((2, 4, 5, 5))
def test_model_functions_reject_bad_attention(bad, tmp_path):
    from attnviz.multihead_figures import overview_html
    from intermediate.multihead_visualization import stripe_heads_per_layer

    _, array = bad
    assert_rejects(lambda: layer_collapse(array), "attention")
    assert_rejects(lambda: stripe_heads_per_layer(array), "weights")
    assert_rejects(lambda: MultiHeadVisualizer(num_heads=4).plot_model_overview(array), "attention")
    assert_rejects(lambda: overview_html(array, list("abcde"), tmp_path / "o.html", "t"), "attention")


@PROPERTY_SETTINGS
@given(bad=bad_attention((3, 5), kinds=("nan", "inf", "negative", "unnormalised", "empty", "wrong_keys",
                                        "transposed", "string", "none")))
def test_jensen_shannon_distance_rejects_non_distributions(bad):
    """Before: NaN, or 1.0 for unnormalised rows. ('extra_dim'/'missing_dim' broadcast or are plain rows.)"""
    _, array = bad
    good = valid_attention((3, 5), seed=1)
    assert_rejects(lambda: jensen_shannon_distance(array, good), "p")
    assert_rejects(lambda: jensen_shannon_distance(good, array), "q")


def test_jensen_shannon_distance_unnormalised_rows_and_bad_axis():
    assert_rejects(lambda: jensen_shannon_distance([2.0, 0.0], [0.0, 2.0]), "p")  # was 1.0
    assert_rejects(lambda: jensen_shannon_distance([0.5, 0.5], [0.5, 0.5], axis=3), "axis")
    assert_rejects(lambda: jensen_shannon_distance(np.full((2, 3), 1 / 3), np.full((4, 3), 1 / 3)), "p, q")
    # along another axis: columns are the distributions here
    p, q = valid_attention((4, 3), seed=2), valid_attention((4, 3), seed=3)
    np.testing.assert_allclose(jensen_shannon_distance(p.T, q.T, axis=0), [jensenshannon(a, b, base=2)
                                                                           for a, b in zip(p, q)], atol=1e-10)


@PROPERTY_SETTINGS
@given(bad=bad_mask(5))
@every_mask_kind(5)
def test_head_distances_rejects_bad_masks(bad):
    _, mask = bad
    assert_rejects(lambda: head_distances(valid_attention((3, 5, 5)), attention_mask=mask), "attention_mask")


@pytest.mark.parametrize(("n", "error"), [(0, ValueError), (-3, ValueError), (2.5, TypeError), ("4", TypeError)])
def test_grid_shape_refuses_no_panels(n, error):
    with pytest.raises(error, match="n: "):
        grid_shape(n)


@pytest.mark.parametrize("distances", [np.full((3, 3), np.nan), np.array([[0.0, 2.0], [2.0, 0.0]]),
                                       np.array([[0.0, -0.5], [-0.5, 0.0]]), np.ones((2, 3)), np.ones((0, 0)),
                                       "distances", None])
def test_distance_consumers_reject_what_head_distances_cannot_return(distances):
    """Before: NaN distances gave no redundant pair, silently."""
    assert_rejects(lambda: redundant_heads(distances), "distances")
    assert_rejects(lambda: MultiHeadVisualizer(num_heads=3).plot_head_similarity(distances), "distances")


def test_overview_hover_escapes_tokens_but_keeps_its_line_breaks(tmp_path):
    """A ``<s>`` token next to the hover's own ``<br>`` tags: plotly parses the text as HTML, so the token
    must come out as ``&lt;s&gt;`` while the ``<br>`` stay tags. Read back from the written page's JSON."""
    import json

    from attnviz.multihead_figures import overview_html

    attention = np.full((1, 2, 3, 3), 1 / 3)  # (L, H, Q, K) uniform
    path = overview_html(attention, ["<s>", "a", "</s>"], tmp_path / "overview.html", "t")
    page = path.read_text(encoding="utf-8")
    start = page.index('"text":[[') + len('"text":')  # the 2-D hover array, not a title's text
    hover, _ = json.JSONDecoder().raw_decode(page, start)  # the heatmap's hover text, rows × columns
    assert hover[0][0] == "layer 0, head 0<br>query 0: &lt;s&gt;<br>key 0: &lt;s&gt;"
    assert hover[2][1] == "layer 0, head 0<br>query 2: &lt;/s&gt;<br>key 1: a"
    assert hover[0][4] == "layer 0, head 1<br>query 0: &lt;s&gt;<br>key 0: &lt;s&gt;"  # after the gap column
    assert not any("<s>" in cell or "</s>" in cell for row in hover for cell in row)
