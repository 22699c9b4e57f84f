"""The beginner tier: the documented API, the pattern scorer on hand-made cases, the lessons' outputs, the
claims their captions make on the default inputs (issue 13) and bad input (issue 14, property tests)."""

import json

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
from bad_attention import (  # noqa: E402
    PROPERTY_SETTINGS,
    assert_rejects,
    bad_attention,
    bad_mask,
    each_bad_attention,
    every_kind,
    every_mask_kind,
    valid_attention,
)
from hypothesis import given  # noqa: E402

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
    a = valid_attention((2, 4, 3), seed=1)  # (H, T, 3 real keys)
    a = np.concatenate([a, np.zeros((2, 4, 1))], axis=-1)  # (H, T, T): the padding key gets no weight
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
@pytest.fixture(scope="module")
def lesson_runs(tmp_path_factory):
    """Each lesson run once with its defaults: ``{script: (measured numbers, manifest, folder)}``."""
    import importlib

    runs = {}
    for script in ("attention_basics", "self_attention_heatmap", "attention_patterns"):
        folder = tmp_path_factory.mktemp(script)
        measured = importlib.import_module(f"beginner.{script}").main(["--out", str(folder)])
        runs[script] = measured, json.loads((folder / "manifest.json").read_text()), folder
    return runs


def _caption(manifest, name: str) -> str:
    return next(e["caption"] for e in manifest["files"] if e["file"] == name)


@pytest.mark.parametrize("script", ["attention_basics", "self_attention_heatmap", "attention_patterns"])
def test_lesson_writes_captioned_figures(script, lesson_runs):
    _, manifest, folder = lesson_runs[script]
    assert manifest["tier"] == "01_beginner" and manifest["script"] == script
    assert len(manifest["files"]) >= 3
    for entry in manifest["files"]:
        assert (folder / entry["file"]).stat().st_size > 5_000
        assert len(entry["caption"]) > 30 and entry["command"].startswith(f"python 01_beginner/{script}.py")


def test_lesson_reports_a_bad_layer_in_one_line(capsys):
    from attnviz.cli import run_lesson
    from beginner import attention_basics

    assert run_lesson(attention_basics.main, ["--layer", "9", "--out", "/tmp/attnviz-test-bad-layer"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "error: layer: index 9 is out of range; there are 6 (valid: 0..5 or -6..-1)"


# ------------------------------------------------------------------- claims on the default inputs (issue 13)
def test_head_average_caption_states_the_measured_direction(lesson_runs, model):
    from beginner.attention_basics import DEFAULT_TEXT

    measured, manifest, _ = lesson_runs["attention_basics"]
    weights = model.get_attention_weights(DEFAULT_TEXT)[measured["layer"]]  # (H, Q, K)
    by_hand = [float(np.mean(weights[h].max(-1))) for h in range(weights.shape[0])]  # peakiness per head
    assert measured["head"] == int(np.argmax(by_hand))  # the default head is the sharpest one
    mean = float(np.mean(weights.mean(0).max(-1)))
    assert measured["head_peakiness"] == pytest.approx(by_hand[measured["head"]])
    assert measured["mean_peakiness"] == pytest.approx(mean)
    assert measured["head_peakiness"] > measured["mean_peakiness"]  # the claim: the mean is flatter
    assert mean <= np.mean(by_hand) + 1e-12  # the docstring's bound: never peakier than the heads on average
    caption = _caption(manifest, "head_average.png")
    assert "the mean is flatter" in caption and f"{mean:.2f}" in caption and f"{by_hand[measured['head']]:.2f}" in caption


def test_head_vs_average_by_hand():
    from beginner.attention_basics import head_vs_average

    n = 4
    sharp, flat = np.eye(n), np.full((n, n), 1 / n)
    result = head_vs_average(np.stack([sharp, flat]), head=0)  # mean row: 5/8 on the diagonal, 1/8 elsewhere
    assert result["head_peakiness"] == 1.0 and result["mean_peakiness"] == pytest.approx(0.625)
    assert "the mean is flatter" in result["verdict"]
    result = head_vs_average(np.stack([sharp, flat]), head=1)  # the flat head is flatter than the mean
    assert result["head_peakiness"] == pytest.approx(0.25) and "not flatter" in result["verdict"]


def test_padding_caption_matches_what_is_drawn(lesson_runs):
    measured, manifest, _ = lesson_runs["self_attention_heatmap"]
    found = measured["padding"]
    assert found["n_padding"] > 0  # the default sentences differ in length
    np.testing.assert_allclose(found["padding_row_sums"], 1.0, atol=1e-4)  # padding queries: full rows
    assert found["max_weight_on_padding_keys"] < 1e-6  # padding keys: no weight
    caption = _caption(manifest, "padding.png")
    assert f"padded with {found['n_padding']} positions" in caption and "must be masked" in caption


def test_padding_figure_with_one_sentence_says_there_is_no_padding(model, tmp_path):
    from attnviz.outputs import LessonOutputs
    from beginner.self_attention_heatmap import _padding_demo

    weights, mask, tokens = model.get_batch_attention(["The only sentence here."])
    out = LessonOutputs("01_beginner/self_attention_heatmap.py", tmp_path, quiet=True)
    found = _padding_demo(out, weights, mask, tokens, layer=2, head=0)
    assert found["n_padding"] == 0
    caption = _caption(json.loads((tmp_path / "manifest.json").read_text()), "padding.png")
    assert caption.startswith("No padding here") and "hold" not in caption


def test_sentence_and_scale_captions_hold_on_the_defaults(lesson_runs):
    measured, manifest, _ = lesson_runs["self_attention_heatmap"]
    for index, (head, mean) in enumerate(measured["sentences"]):
        assert head > mean, index  # the claim each caption makes: the mean is flatter than head 0
        assert "the mean is flatter" in _caption(manifest, f"sentence_{index}.png")
    scales = measured["scales"]
    assert scales["span"]["fixed"] < 0.01 and scales["span"]["minmax"] == pytest.approx(1.0)
    assert scales["sharp"][1] > scales["diffuse"][1]
    caption = _caption(manifest, "scales.png")
    assert f"{scales['span']['fixed']:.4f}" in caption and f"head {scales['sharp'][0]}" in caption


def test_scales_grid_carries_token_labels(model):
    from beginner.self_attention_heatmap import SENTENCES, _scales_demo

    weights, mask, tokens = model.get_batch_attention(SENTENCES)
    figures = []

    class Recorder:
        def save_figure(self, fig, name, caption):
            figures.append(describe_figure(fig))

    _scales_demo(Recorder(), weights, mask, tokens, layer=2)
    real = [t for t, m in zip(tokens[0], mask[0]) if m]
    assert all(panel["xticklabels"] == real and panel["yticklabels"] == real for panel in figures[0]["panels"])


def test_pattern_captions_hold_on_the_defaults(lesson_runs):
    measured, manifest, _ = lesson_runs["attention_patterns"]
    labels, scores = measured["decoder"]
    finite = scores[~np.isnan(scores)]
    assert np.all(finite <= 1.0 + 1e-9) and finite.min() > -5  # was -8e8 with rows divided by 1e-9
    found = {p: int((labels == p).sum()) for p in ("previous_token", "induction")}
    assert found["previous_token"] >= 1 and found["induction"] >= 1  # "the two the training task needs"
    assert (f"labels {found['previous_token']} previous-token and {found['induction']} induction"
            in _caption(manifest, "decoder_pattern_map.png"))
    assert measured["ideal"]["induction"] == 3  # 'the', 'cat' and '.' repeat in the 10-token example
    encoder_labels, _ = measured["encoder"]
    assert (encoder_labels == "mixed").mean() >= 0.25  # the docstring: "many heads *are* mixed"


def test_previous_token_head_overlaps_the_band_ideal_by_a_third():
    # the docstring's argument for scoring overlap with the ideal rather than mass on the support
    prev, band = make_pattern("previous_token", 6), make_pattern("diagonal", 6)
    np.testing.assert_allclose(np.minimum(prev, band).sum(1)[1:-1], 1 / 3)


def test_encoder_examples_carry_tokens(lesson_runs):
    import matplotlib.image

    _, manifest, folder = lesson_runs["attention_patterns"]
    assert any(e["file"] == "encoder_examples.png" for e in manifest["files"])
    image = matplotlib.image.imread(folder / "encoder_examples.png")
    assert image.shape[0] > 400  # panels big enough for ~20 token labels (the old grid had none)


# --------------------------------------------------------------------------- the scorer on causal rows
def _random_causal(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    scores = np.where(np.tril(np.ones((n, n))) > 0, rng.normal(size=(n, n)), -np.inf)
    weights = np.exp(scores - scores.max(1, keepdims=True))
    return weights / weights.sum(1, keepdims=True)  # (n, n), row i over keys 0..i


def test_causal_scores_are_finite_and_bounded():
    tokens = [f"t{k}" for k in range(12)]
    for seed in range(5):
        scores = score_head(_random_causal(12, seed), tokens, causal=True)
        for name, value in scores.items():
            if not np.isnan(value):
                # overlap >= 0, so a score is at least -chance/(1-chance) >= -(n-1) for informative rows
                assert -11 <= value <= 1 + 1e-9, (name, value)


def test_causal_score_drops_rows_with_no_evidence_by_hand():
    # causal diagonal band on 3 tokens: row 0 sees 1 key, row 1 sees 2 — uniform is the ideal there (chance 1)
    a = np.array([[1.0, 0.0, 0.0], [0.8, 0.2, 0.0], [0.1, 0.5, 0.4]])
    support, valid = pattern_support("diagonal", ["x", "y", "z"], causal=True)
    # only row 2 counts: ideal [0, .5, .5], chance 2/3, overlap .5 + .4 = .9 -> (.9 - 2/3) / (1/3) = 0.7
    assert pattern_score(a, support, valid, causal=True) == pytest.approx(0.7)


def test_a_local_decoder_head_is_labelled_diagonal():
    n = 12
    tokens = [f"t{k}" for k in range(n)]
    head = 0.8 * make_pattern("diagonal", n, causal=True) + 0.2 * _random_causal(n, 3)  # (n, n)
    labels, scores = label_heads(head[None, None], tokens, causal=True)
    assert labels[0, 0] == "diagonal", scores


def test_ideal_induction_pattern_is_not_the_identity():
    tokens = ["[CLS]", "the", "cat", "sat", ".", "the", "cat", "ran", ".", "[SEP]"]
    ideal = make_pattern("induction", len(tokens), tokens=tokens)
    assert np.trace(ideal) <= 1.0  # only row 0 may sit on the diagonal (it is also the first token)
    support, valid = pattern_support("induction", tokens)
    assert ideal[5, 2] == 1.0 and ideal[6, 3] == 1.0 and ideal[8, 5] == 1.0  # the token after the earlier one
    np.testing.assert_array_equal(ideal[~valid, 0], 1.0)  # undefined rows park on the first token


def test_threshold_out_of_range_is_rejected(capsys, tmp_path):
    from attnviz.cli import run_lesson
    from beginner import attention_patterns

    assert run_lesson(attention_patterns.main, ["--threshold", "5", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: threshold: got 5.0") and "\n" not in err
    assert not (tmp_path / "o").exists()  # refused before any work
    with pytest.raises(ValueError, match="threshold"):
        label_heads(np.full((1, 1, 3, 3), 1 / 3), ["a", "b", "c"], threshold=-0.1)


# --------------------------------------------------------------------------------------- issue 14: input
def test_a_list_of_texts_gives_a_batch(model):
    texts = ["a cat", "the dog sat down here"]
    batch = model.get_attention_weights(texts)  # (L, B, H, T, T)
    tokens = model.tokens(texts)
    assert batch.shape[:3] == (6, 2, 12) and len(tokens) == 2 and len(tokens[0]) == len(tokens[1])
    for b, text in enumerate(texts):
        alone = model.get_attention_weights(text)  # the independent reference: the text run on its own
        n = alone.shape[-1]
        np.testing.assert_allclose(batch[:, b, :, :n, :n], alone, atol=1e-5)
        assert tokens[b][:n] == model.tokens(text)
    assert (batch[:, 0, :, :, 4:] < 1e-6).all()  # "a cat" is 4 tokens: the padding keys get no weight


def test_bad_text_gets_a_clear_error(model):
    assert_rejects(lambda: model.get_attention_weights(None), "text")
    assert_rejects(lambda: model.get_attention_weights(["a cat", 3]), "text")
    assert_rejects(lambda: model.get_attention_weights([]), "text")
    assert_rejects(lambda: model.tokens(None), "text")


def test_token_count_error_names_special_tokens(model):
    text = "Time flies like an arrow"
    weights = model.get_attention_weights(text)  # 7 tokens: [CLS] + 5 words + [SEP]
    error = assert_rejects(lambda: AttentionVisualizer().plot_attention_heatmap(weights[0, 0], text.split()),
                           "tokens")
    assert "[CLS]" in str(error) and "[SEP]" in str(error) and "model.tokens(text)" in str(error)


def test_crop_rejects_a_crop_that_is_not_attention():
    good = np.full((3, 3), 1 / 3)
    assert_rejects(lambda: crop_to_real_tokens(good * 2, [1, 1, 1], ["a", "b", "c"]), "attention")
    padded = np.array([[0.5, 0.5, 0.0], [0.5, 0.5, 0.0], [0.4, 0.6, 0.0]])  # the last key is padding
    assert_rejects(lambda: crop_to_real_tokens(padded.T.copy(), [1, 1, 0], ["a", "b", "[PAD]"]), "attention")
    cropped, toks = crop_to_real_tokens(padded, [1, 1, 0], ["a", "b", "[PAD]"])
    np.testing.assert_array_equal(cropped, [[0.5, 0.5], [0.5, 0.5]])
    assert toks == ["a", "b"]


# ------------------------------------------------------------------------ property tests (bad_attention)
@PROPERTY_SETTINGS
@given(bad=bad_attention((4, 5)))
@every_kind((4, 5), kinds=("nan", "inf", "empty", "string", "none"))
def test_softmax_rejects_bad_scores(bad):
    kind, scores = bad
    if kind in ("negative", "unnormalised", "wrong_keys", "transposed", "extra_dim", "missing_dim"):
        return  # scores may be any finite reals, of any shape: these are valid scores
    assert_rejects(lambda: softmax(scores), "scores")


@each_bad_attention((2, 5, 5))
def test_crop_to_real_tokens_rejects_bad_attention(bad):
    _, attention = bad
    assert_rejects(lambda: crop_to_real_tokens(attention, np.ones(5), list("abcde")), "attention")


@PROPERTY_SETTINGS
@given(bad=bad_mask(5))
@every_mask_kind(5)
def test_crop_to_real_tokens_rejects_bad_masks(bad):
    _, mask = bad
    assert_rejects(lambda: crop_to_real_tokens(valid_attention((2, 5, 5)), mask, list("abcde")),
                   "attention_mask")


@each_bad_attention((5, 5))
def test_matrix_functions_reject_bad_attention(bad):
    from beginner.attention_basics import peakiness

    _, matrix = bad
    assert_rejects(lambda: scale_comparison(matrix), "matrix")
    assert_rejects(lambda: peakiness(matrix), "matrix")


@each_bad_attention((5, 5))
def test_pattern_scorers_reject_bad_attention(bad):
    _, attention = bad
    support, valid = pattern_support("diagonal", list("abcde"))
    assert_rejects(lambda: pattern_score(attention, support, valid), "attention")
    assert_rejects(lambda: score_head(attention, list("abcde")), "attention")


@each_bad_attention((2, 2, 5, 5))
def test_label_heads_rejects_bad_attention(bad):
    _, attention = bad
    assert_rejects(lambda: label_heads(attention, list("abcde")), "attention")


@each_bad_attention((3, 5, 5))
def test_visualizer_and_head_helpers_reject_bad_attention(bad):
    from beginner.attention_basics import head_vs_average, sharpest_head

    _, attention = bad
    viz = AttentionVisualizer()
    assert_rejects(lambda: viz.select_matrix(attention, head=0), "attention_weights")
    assert_rejects(lambda: viz.plot_attention_heatmap(attention, list("abcde"), head=0), "attention_weights",
                   "tokens")
    assert_rejects(lambda: head_vs_average(attention, 0), "layer_weights")
    assert_rejects(lambda: sharpest_head(attention), "layer_weights")
    plt.close("all")
