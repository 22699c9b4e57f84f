"""The beginner tier: the documented API, the pattern scorer on hand-made cases, the lessons' outputs."""

import json

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

from attnviz.plotting import describe_figure  # noqa: E402
from beginner.attention_basics import AttentionModel, AttentionVisualizer, softmax, toy_attention  # noqa: E402
from beginner.attention_patterns import (  # noqa: E402
    PATTERNS,
    label_heads,
    make_pattern,
    pattern_score,
    pattern_support,
    score_head,
)
from beginner.self_attention_heatmap import crop_to_real_tokens, scale_comparison  # noqa: E402


@pytest.fixture(scope="module")
def model():
    return AttentionModel()


def test_usage_lines_work_as_written(model, tmp_path):
    weights = model.get_attention_weights("The cat sat on the mat")  # numpy (layers, heads, query, key)
    tokens = model.tokens("The cat sat on the mat")
    assert isinstance(weights, np.ndarray) and weights.shape == (6, 12, len(tokens), len(tokens))
    assert tokens[0] == "[CLS]" and tokens[-1] == "[SEP]" and "cat" in tokens
    save = tmp_path / "attention_heatmap.png"
    fig = AttentionVisualizer().plot_attention_heatmap(weights[-1, 0], tokens=tokens, save_path=save)
    assert save.stat().st_size > 10_000
    (panel,) = describe_figure(fig)["panels"]
    np.testing.assert_array_equal(panel["data"], weights[-1, 0])
    assert panel["xticklabels"] == tokens and panel["yticklabels"] == tokens and panel["clim"] == (0.0, 1.0)


def test_heatmap_selects_head_average_and_batch(model):
    weights = model.get_attention_weights("Heads are selected explicitly")  # (L, H, Q, K)
    tokens = model.tokens("Heads are selected explicitly")
    viz = AttentionVisualizer()
    data = describe_figure(viz.plot_attention_heatmap(weights[2], tokens, head=4))["panels"][0]["data"]
    np.testing.assert_array_equal(data, weights[2, 4])
    data = describe_figure(viz.plot_attention_heatmap(weights[2], tokens, average_heads=True))["panels"][0]["data"]
    np.testing.assert_allclose(data, weights[2].mean(0), atol=1e-6)
    batch = np.stack([weights[1], weights[3]])  # (B=2, H, Q, K)
    data = describe_figure(viz.plot_attention_heatmap(batch, tokens, batch=1, head=-1))["panels"][0]["data"]
    np.testing.assert_array_equal(data, weights[3, -1])
    with pytest.raises(ValueError, match="head: attention_weights has 12 heads"):
        viz.plot_attention_heatmap(weights[2], tokens)
    with pytest.raises(ValueError, match="batch"):
        viz.plot_attention_heatmap(batch, tokens, head=0)
    with pytest.raises(ValueError, match="head: index 12 is out of range"):
        viz.plot_attention_heatmap(weights[2], tokens, head=12)
    with pytest.raises(ValueError, match=r"tokens: got 3 tokens"):
        viz.plot_attention_heatmap(weights[2, 0], tokens[:3])
    with pytest.raises(ValueError, match="5 dimensions"):
        viz.plot_attention_heatmap(weights[None], tokens)


def test_toy_softmax_matches_the_formula():
    rng = np.random.default_rng(0)
    q, k = rng.normal(size=(5, 4)), rng.normal(size=(5, 4))
    scores = q @ k.T / 2.0
    by_hand = np.exp(scores) / np.exp(scores).sum(1, keepdims=True)
    np.testing.assert_allclose(toy_attention(seed=0), by_hand)
    np.testing.assert_allclose(softmax(np.array([1000.0, 1000.0])), [0.5, 0.5])  # stable for large scores


def test_crop_to_real_tokens_drops_padding():
    a = np.arange(2 * 4 * 4, dtype=float).reshape(2, 4, 4)  # (H, T, T)
    cropped, toks = crop_to_real_tokens(a, np.array([1, 1, 1, 0]), ["a", "b", "c", "[PAD]"])
    assert toks == ["a", "b", "c"]
    np.testing.assert_array_equal(cropped, a[:, :3, :3])


def test_minmax_scale_exaggerates_a_flat_head():
    flat = np.full((4, 4), 0.25) + np.array([0.01, -0.01, 0.0, 0.0])  # rows still sum to 1
    scales = scale_comparison(flat)
    assert scales["fixed"].max() < 0.3  # honest: nothing stands out
    assert scales["minmax"].max() == 1.0 and scales["minmax"].min() == 0.0  # stretched to the full range


# --------------------------------------------------------------------------------------------- patterns
def test_pattern_generators_are_row_stochastic():
    tokens = ["[CLS]", "a", "b", ".", "a", "b", "[SEP]"]
    for name in PATTERNS:
        p = make_pattern(name, len(tokens), tokens=tokens)
        np.testing.assert_allclose(p.sum(1), 1.0)
    prev = make_pattern("previous_token", 4)
    np.testing.assert_array_equal(prev, [[1, 0, 0, 0], [1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0]])
    support, valid = pattern_support("induction", tokens)
    assert support[4, 2] and support[5, 3] and valid.sum() == 2  # 'a' at 4 -> 'b' at 2; 'b' at 5 -> '.' at 3


def test_pattern_score_by_hand():
    # 3 tokens, previous-token support: rows 1 and 2 are valid, chance = 1/3 each.
    a = np.array([[1.0, 0.0, 0.0], [0.7, 0.3, 0.0], [0.1, 0.5, 0.4]])
    support, valid = pattern_support("previous_token", ["x", "y", "z"])
    # row 1: mass 0.7 -> (0.7 - 1/3)/(2/3) = 0.55; row 2: mass 0.5 -> 0.25; mean 0.4
    assert pattern_score(a, support, valid) == pytest.approx(0.4)
    uniform = np.full((3, 3), 1 / 3)
    assert pattern_score(uniform, support, valid) == pytest.approx(0.0)


def test_scorer_recognises_each_ideal_pattern():
    tokens = ["[CLS]", "the", "cat", "sat", ".", "the", "cat", "ran", "far", ".", "[SEP]"]
    n = len(tokens)
    for name in ("diagonal", "bos", "previous_token", "induction", "block"):
        ideal = 0.9 * make_pattern(name, n, tokens=tokens) + 0.1 / n  # a little noise everywhere
        scores = score_head(ideal, tokens)
        assert max(scores, key=lambda k: -np.inf if np.isnan(scores[k]) else scores[k]) == name, (name, scores)


def test_label_heads_on_the_pretrained_model(model):
    text = "The cat sat on the mat. The cat sat on the mat."
    weights, tokens = model.get_attention_weights(text), model.tokens(text)
    labels, scores = label_heads(weights, tokens)
    assert labels.shape == (6, 12) and scores.shape == (6, 12, len(PATTERNS))
    assert set(labels.ravel()) <= set(PATTERNS) | {"mixed"}
    # MiniLM is known to park attention on [CLS]: that label must occur, and every label must be the argmax
    assert (labels == "bos").sum() >= 10
    for (l, h), label in np.ndenumerate(labels):
        if label != "mixed":
            assert PATTERNS[int(np.nanargmax(scores[l, h]))] == label


# ---------------------------------------------------------------------------------------- the lessons
@pytest.mark.parametrize("script", ["attention_basics", "self_attention_heatmap", "attention_patterns"])
def test_lesson_writes_captioned_figures(script, tmp_path):
    import importlib

    lesson = importlib.import_module(f"beginner.{script}")
    lesson.main(["--out", str(tmp_path)])
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["tier"] == "01_beginner" and manifest["script"] == script
    assert len(manifest["files"]) >= 3
    for entry in manifest["files"]:
        assert (tmp_path / entry["file"]).stat().st_size > 5_000
        assert len(entry["caption"]) > 30 and entry["command"].startswith(f"python 01_beginner/{script}.py")


def test_lesson_reports_a_bad_layer_in_one_line(capsys):
    from attnviz.cli import run_lesson
    from beginner import attention_basics

    assert run_lesson(attention_basics.main, ["--layer", "9", "--out", "/tmp/attnviz-test-bad-layer"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "error: layer: index 9 is out of range; there are 6 (valid: 0..5 or -6..-1)"
