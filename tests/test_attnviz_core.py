"""The shared utils against independent references: the formula recomputed by hand, the §7 errors."""

import matplotlib
import numpy as np
import pytest
import torch

matplotlib.use("Agg")

from attnviz.extract import (  # noqa: E402
    MultiheadAttentionRecorder,
    NoAttentionWeightsError,
    from_keras,
    transformer_attentions,
)
from attnviz.grading.fixtures import minilm  # noqa: E402
from attnviz.models import ModelLoadError, encode_texts, load_model  # noqa: E402
from attnviz.normalize import display_scale, fuse_heads, mask_padding, row_normalize  # noqa: E402
from attnviz.plotting import describe_figure, heatmap_html, show_heatmaps  # noqa: E402
from attnviz.validate import (  # noqa: E402
    check_attention,
    check_cross_attention,
    check_index,
    check_tokens,
    to_canonical,
)


def _softmax(x, axis=-1):
    e = np.exp(x - x.max(axis, keepdims=True))
    return e / e.sum(axis, keepdims=True)


# ------------------------------------------------------------------------------------------ extraction
@pytest.mark.parametrize("layer", [0, 3])
def test_minilm_weights_equal_softmax_of_queries_and_keys(layer):
    """softmax(QKᵀ/√d) recomputed from the layer's input hidden state and its own projections."""
    model, tokenizer = minilm()
    inputs = tokenizer("Attention weights can be checked by hand.", return_tensors="pt")
    with torch.no_grad():
        out = model(**inputs, output_attentions=True, output_hidden_states=True)
        extracted = transformer_attentions(model, inputs)[layer, 0].numpy()  # (H, Q, K)
        hidden = out.hidden_states[layer][0]  # input of this layer, (T, 384)
        self_attn = model.encoder.layer[layer].attention.self
        q = self_attn.query(hidden).numpy()  # (T, 384)
        k = self_attn.key(hidden).numpy()
    heads = model.config.num_attention_heads
    d = q.shape[-1] // heads
    q = q.reshape(-1, heads, d).transpose(1, 0, 2)  # (H, T, d)
    k = k.reshape(-1, heads, d).transpose(1, 0, 2)
    by_hand = _softmax(q @ k.transpose(0, 2, 1) / np.sqrt(d))  # (H, T, T)
    np.testing.assert_allclose(extracted, by_hand, atol=1e-5)
    np.testing.assert_allclose(extracted.sum(-1), 1.0, atol=1e-5)


def test_padding_columns_are_zero_and_real_rows_sum_to_one():
    model, tokenizer = minilm()
    inputs = tokenizer(["A much longer sentence than the other one.", "Short."], return_tensors="pt", padding=True)
    with torch.no_grad():
        attention = transformer_attentions(model, inputs).numpy()  # (L, B, H, T, T)
    mask = inputs["attention_mask"].numpy().astype(bool)
    assert not mask[1].all(), "the short sentence must be padded"
    assert np.abs(attention[:, 1, :, :, ~mask[1]]).max() < 1e-6  # padding keys get no weight
    np.testing.assert_allclose(attention[:, 1, :, mask[1], :].sum(-1), 1.0, atol=1e-5)
    masked = mask_padding(attention, inputs["attention_mask"].numpy())
    assert np.abs(masked[:, 1, :, ~mask[1], :]).max() == 0.0  # padding queries zeroed by the helper
    check_attention(attention, "LBHQK", key_mask=mask)  # the validator accepts it with the key mask


def test_sdpa_model_gives_a_clear_error_not_an_empty_tuple():
    from transformers import AutoModel

    from attnviz.models import default_encoder_path

    model = AutoModel.from_pretrained(default_encoder_path(), attn_implementation="sdpa").eval()
    _, tokenizer = minilm()
    inputs = tokenizer("hello", return_tensors="pt")
    with pytest.raises(NoAttentionWeightsError, match="eager"):
        transformer_attentions(model, inputs, force_eager=False)
    assert transformer_attentions(model, inputs).shape[0] == 6  # forcing eager fixes it


def test_multihead_attention_recorder_keeps_each_head():
    torch.manual_seed(0)
    d_model, heads, n = 8, 2, 5
    mha = torch.nn.MultiheadAttention(d_model, heads, batch_first=True).eval()
    x = torch.randn(1, n, d_model)
    with torch.no_grad(), MultiheadAttentionRecorder(mha) as rec:
        mha(x, x, x)
    recorded = rec.stacked()  # (1, 1, H, Q, K)
    assert recorded.shape == (1, 1, heads, n, n)
    w_q, w_k, _ = mha.in_proj_weight.detach().chunk(3)
    b_q, b_k, _ = mha.in_proj_bias.detach().chunk(3)
    q = (x[0] @ w_q.T + b_q).reshape(n, heads, -1).transpose(0, 1).numpy()  # (H, n, d)
    k = (x[0] @ w_k.T + b_k).reshape(n, heads, -1).transpose(0, 1).numpy()
    by_hand = _softmax(q @ k.transpose(0, 2, 1) / np.sqrt(d_model // heads))
    np.testing.assert_allclose(recorded[0, 0], by_hand, atol=1e-5)
    with torch.no_grad():
        _, averaged = mha(x, x, x)  # the default silently averages heads
    np.testing.assert_allclose(averaged[0].numpy(), by_hand.mean(0), atol=1e-5)


def test_keras_layout_and_its_transpose():
    scores = _softmax(np.random.default_rng(0).normal(size=(2, 3, 4, 6)))  # (B, H, target, source)
    canonical = from_keras(scores)
    assert canonical.shape == (1, 2, 3, 4, 6)
    with pytest.raises(ValueError, match="rows must sum to 1"):
        from_keras(scores.swapaxes(-1, -2))  # (B, H, source, target): rows no longer distributions


# ------------------------------------------------------------------------------------------ validation
@pytest.mark.parametrize(("bad", "layout", "kind", "words"), [
    (np.ones((2, 2, 2)) / 2, "QK", ValueError, ["attention", "3 dimensions", "(query, key)"]),
    (np.array([[np.nan, 1.0], [0.5, 0.5]]), "QK", ValueError, ["attention", "NaN"]),
    (np.array([[1.5, -0.5], [0.5, 0.5]]), "QK", ValueError, ["attention", "negative"]),
    (np.array([[0.3, 0.3], [0.5, 0.5]]), "QK", ValueError, ["attention", "sum to 1", "0.6"]),
    (np.zeros((0, 0)), "QK", ValueError, ["attention", "empty"]),
    ("not an array", "QK", TypeError, ["attention", "str"]),
])
def test_validator_errors_name_argument_value_and_expectation(bad, layout, kind, words):
    with pytest.raises(kind) as info:
        check_attention(bad, layout)
    for word in words:
        assert word in str(info.value)


def test_other_validators():
    with pytest.raises(ValueError, match=r"tokens: got 2 tokens but the attention has 3"):
        check_tokens(["a", "b"], 3)
    with pytest.raises(TypeError, match="one string"):
        check_tokens("a b c", 3)
    with pytest.raises(ValueError, match=r"head: index 12 is out of range; there are 12"):
        check_index(12, 12, name="head")
    assert check_index(-1, 6, name="layer") == 5
    with pytest.raises(ValueError, match="transpose"):
        check_cross_attention(np.full((7, 4), 0.25).T, source_len=7, target_len=4)
    with pytest.raises(ValueError, match="square"):
        check_attention(np.full((3, 4), 0.25), "QK", square=True)
    assert to_canonical(np.full((2, 3, 3), 1 / 3), "HQK").shape == (1, 1, 2, 3, 3)


# ------------------------------------------------------------------------------------- normalisation
def test_fusion_scales_and_row_normalisation_by_hand():
    a = np.array([[[0.2, 0.8], [0.5, 0.5]], [[0.6, 0.4], [0.1, 0.9]]])  # (H=2, 2, 2)
    np.testing.assert_allclose(fuse_heads(a, "mean"), [[0.4, 0.6], [0.3, 0.7]])
    np.testing.assert_allclose(fuse_heads(a, "max"), [[0.6, 0.8], [0.5, 0.9]])
    np.testing.assert_allclose(fuse_heads(a, "min"), [[0.2, 0.4], [0.1, 0.5]])
    with pytest.raises(ValueError, match="head_fusion"):
        fuse_heads(a, "median")
    np.testing.assert_allclose(row_normalize([[1.0, 3.0], [0.0, 0.0]]), [[0.25, 0.75], [0.0, 0.0]])
    m = np.array([[0.2, 0.3, 0.5], [0.3, 0.3, 0.4]])
    shown, lo, hi, label = display_scale(m, "fixed")
    assert (lo, hi) == (0.0, 1.0) and np.array_equal(shown, m) and "probability" in label
    np.testing.assert_allclose(display_scale(m, "row")[0], [[0.4, 0.6, 1.0], [0.75, 0.75, 1.0]])
    np.testing.assert_allclose(display_scale(m, "minmax")[0], [[0.0, 1 / 3, 1.0], [1 / 3, 1 / 3, 2 / 3]])


# ------------------------------------------------------------------------------------------- plotting
def test_heatmap_figure_holds_the_matrix_tokens_and_fixed_scale():
    m = _softmax(np.random.default_rng(1).normal(size=(4, 4)))
    tokens = ["[CLS]", "a", "b", "[SEP]"]
    fig = show_heatmaps(m, xlabels=tokens, ylabels=tokens, titles=["t"])
    info = describe_figure(fig)
    (panel,) = info["panels"]
    np.testing.assert_array_equal(panel["data"], m)
    assert panel["xticklabels"] == tokens and panel["yticklabels"] == tokens
    assert panel["clim"] == (0.0, 1.0) and panel["cmap"] == "viridis"
    assert "0–1" in info["colorbar_label"]
    grid = show_heatmaps(np.stack([[m, m.T], [m, m]]))
    assert len(describe_figure(grid)["panels"]) == 4
    with pytest.raises(ValueError, match="xlabels: got 3 tokens"):
        show_heatmaps(m, xlabels=tokens[:3])


def test_heatmap_html_is_offline_and_carries_hover_tokens(tmp_path):
    m = np.full((3, 3), 1 / 3)
    path = heatmap_html(m, xlabels=["the", "cat", "the"], ylabels=["the", "cat", "the"], title="t",
                        path=tmp_path / "h.html")
    text = path.read_text()
    # offline (issue "Speed"): no CDN; one plotly.js beside the page, loaded by a relative path
    assert 'src="http' not in text and 'src="plotly.min.js"' in text
    assert (tmp_path / "plotly.min.js").stat().st_size > 1_000_000 and len(text) < 100_000
    # hover names each cell by position and token (two "the" must be told apart: issue 13)
    assert "query %{customdata[0]}: %{customdata[1]}" in text and "key %{customdata[2]}: %{customdata[3]}" in text
    assert '[0,"the",2,"the"]' in text.replace(" ", "")  # query 0 "the" -> key 2 "the": positions differ


def test_plotly_js_is_written_once_under_outputs_and_referenced_relatively(tmp_path, monkeypatch):
    import re

    import plotly.graph_objects as go

    import attnviz
    from attnviz.plotting import write_plotly_html

    monkeypatch.setattr(attnviz, "OUTPUTS_DIR", tmp_path / "outputs")
    pages = [tmp_path / "outputs" / "01_beginner" / "a" / "x.html", tmp_path / "outputs" / "02_intermediate" / "b" / "y.html"]
    for page in pages:
        write_plotly_html(go.Figure(go.Heatmap(z=[[0.5, 0.5]])), page)
    library = tmp_path / "outputs" / "plotly.min.js"
    assert sorted(p.name for p in (tmp_path / "outputs").rglob("*.js")) == ["plotly.min.js"]  # one copy
    for page in pages:
        src = re.search(r'<script[^>]* src="([^"]+\.js)"', page.read_text()).group(1)
        assert src == "../../plotly.min.js" and (page.parent / src).resolve() == library.resolve()


# ------------------------------------------------------------------------------------------- loading
def test_unloadable_model_is_one_line_naming_the_default(tmp_path):
    """A local folder that does not exist is "no such folder" — not a network ("offline") complaint."""
    with pytest.raises(ModelLoadError) as info:
        load_model(str(tmp_path / "no-such-model"))
    message = str(info.value)
    assert "\n" not in message and "all-MiniLM-L6-v2" in message and "no such folder" in message
    assert "offline" not in message.replace("offline default", "")


def test_long_text_is_truncated_with_a_warning():
    _, tokenizer = minilm()
    with pytest.warns(UserWarning, match="truncated to the first 16"):
        enc = encode_texts(tokenizer, "word " * 40, limit=16)
    assert enc["input_ids"].shape[1] == 16
    with pytest.raises(ValueError, match="empty"):
        encode_texts(tokenizer, "   ")


# ------------------------------------------------------------------------------ the shared contracts (issue 10)
def test_check_mask_shapes_values_and_messages():
    from attnviz.validate import check_mask

    assert check_mask(None, 3) is None
    np.testing.assert_array_equal(check_mask([1, 1, 0], 3), [True, True, False])
    # (K,) with a batch: the same mask for each example
    np.testing.assert_array_equal(check_mask([1, 0], 2, n_batch=3), [[True, False]] * 3)
    np.testing.assert_array_equal(check_mask(np.array([[1, 0], [1, 1]]), 2, n_batch=2), [[True, False], [True, True]])
    with pytest.raises(ValueError, match=r"attention_mask: got shape \(3,\); expected \(4,\)"):
        check_mask([1, 1, 0], 4)
    with pytest.raises(ValueError, match=r"mask: got shape \(2, 2\); expected \(2,\) or \(3, 2\)"):
        check_mask(np.ones((2, 2)), 2, n_batch=3, name="mask")
    with pytest.raises(ValueError, match="got the value 2; expected only 0"):
        check_mask([1, 2, 1], 3)
    with pytest.raises(ValueError, match="no real token"):
        check_mask([0, 0], 2)
    with pytest.raises(ValueError, match="example 1 has no real token"):
        check_mask([[1, 0], [0, 0]], 2, n_batch=2)
    with pytest.raises(TypeError, match="attention_mask"):
        check_mask("11", 2)


def test_check_attention_key_mask_uses_the_one_mask_check():
    ok = np.array([[[0.5, 0.5, 0.0], [1.0, 0.0, 0.0]]])  # (B=1, Q=2, K=3), key 2 is padding
    check_attention(ok, "BQK", key_mask=[[1, 1, 0]])
    check_attention(ok, "BQK", key_mask=[1, 1, 0])
    with pytest.raises(ValueError, match="masked .padding. keys"):
        check_attention(ok, "BQK", key_mask=[1, 0, 1])
    with pytest.raises(ValueError, match=r"key_mask: got shape \(2,\)"):
        check_attention(ok, "BQK", key_mask=[1, 1])


def test_check_head_fusion():
    from attnviz.validate import HEAD_FUSIONS, check_head_fusion

    assert [check_head_fusion(f) for f in HEAD_FUSIONS] == ["mean", "max", "min"]
    for bad in ("median", None, 0):
        with pytest.raises(ValueError, match="head_fusion: got .*; expected one of mean, max, min"):
            check_head_fusion(bad)
    with pytest.raises(ValueError, match="^fusion: got"):
        check_head_fusion("avg", name="fusion")


def test_as_layers_accepts_lists_tuples_arrays_and_tensors():
    from attnviz.validate import as_layers

    one = np.full((2, 3, 3), 1 / 3)  # (H, Q, K) of uniform rows
    two = np.tile(np.eye(3), (2, 1, 1))  # (H, Q, K) of one-hot rows
    expected = np.stack([one, two])[:, None]  # (L=2, B=1, H=2, Q=3, K=3) by hand
    for given in ([one, two], (one, two), np.stack([one, two]), [torch.tensor(one), torch.tensor(two)]):
        arr, layout = as_layers(given)
        assert layout == "LHQK" and arr.shape == (2, 1, 2, 3, 3) and arr.dtype == np.float64
        np.testing.assert_allclose(arr, expected)
    batched, layout = as_layers([one[None], two[None]])  # each layer (B, H, Q, K)
    assert layout == "LBHQK" and batched.shape == (2, 1, 2, 3, 3)
    fused, layout = as_layers(np.stack([one[0], two[0]]), "LQK|LBQK")
    assert layout == "LQK" and fused.shape == (2, 1, 1, 3, 3)
    kept, _ = as_layers(np.stack([one, two]).astype(np.float32), dtype=None)  # float32 stays float32
    assert kept.dtype == np.float32
    unchecked, _ = as_layers([one * 2, two], validate=False)  # rows sum to 2: only shapes are checked
    np.testing.assert_allclose(unchecked[0, 0], one * 2)


@pytest.mark.parametrize(("bad", "kwargs", "error", "words"), [
    ([], {}, ValueError, "attention_layers: got an empty list"),
    (np.full((2, 3, 3), 1 / 3), {}, ValueError, "wrap it in a list"),
    ([np.full((2, 3, 3), 1 / 3), np.full((2, 4, 4), 1 / 4)], {}, ValueError,
     "attention_layers[1]: shape (2, 4, 4) differs from layer 0's (2, 3, 3)"),
    ([np.full((3, 3), 1 / 3)], {}, ValueError, "expected 3 dimensions (heads, query, key)"),
    ([np.full((2, 3, 4), 1 / 4)], {}, ValueError, "square"),
    ([np.full((2, 3, 3), 0.5)], {}, ValueError, "sum to 1"),
    ([np.full((2, 3, 3), 0.5)], {"validate": False, "layout": "LHQK"}, None, ""),
    ("layers", {}, TypeError, "attention_layers"),
    ([np.full((2, 3, 3), 1 / 3)], {"layout": "HQK"}, ValueError, "layout"),
    ([np.full((2, 3, 3), 1 / 3)], {"name": "weights", "layout": "LQK"}, ValueError, "weights: each layer has shape"),
])
def test_as_layers_errors_name_the_argument(bad, kwargs, error, words):
    from attnviz.validate import as_layers

    if error is None:
        assert as_layers(bad, **kwargs)[0].shape == (1, 1, 2, 3, 3)
        return
    with pytest.raises(error) as info:
        as_layers(bad, **kwargs)
    assert words in str(info.value)


def test_output_row_by_hand():
    from attnviz.normalize import output_row

    m = np.array([[0.1, 0.2, 0.7], [0.4, 0.4, 0.2], [0.3, 0.3, 0.4]])  # (Q, K)
    np.testing.assert_allclose(output_row(m, 0), [0.1, 0.2, 0.7])
    np.testing.assert_allclose(output_row(m, -1), [0.3, 0.3, 0.4])
    np.testing.assert_allclose(output_row(m, "mean"), [0.8 / 3, 0.9 / 3, 1.3 / 3])
    # mean over the real rows 0 and 1, then the padding key 2 zeroed: ((0.1+0.4)/2, (0.2+0.4)/2, 0)
    np.testing.assert_allclose(output_row(m, "mean", attention_mask=[1, 1, 0]), [0.25, 0.3, 0.0])
    np.testing.assert_allclose(output_row(m, np.array([False, True, True])), [0.35, 0.35, 0.3])
    np.testing.assert_allclose(output_row(np.stack([m, 2 * m]), 1), [[0.4, 0.4, 0.2], [0.8, 0.8, 0.4]])  # (L, K)
    with pytest.raises(ValueError, match="row: index 3 is out of range"):
        output_row(m, 3)
    with pytest.raises(ValueError, match="row: got 'max'"):
        output_row(m, "max")
    with pytest.raises(ValueError, match=r"row: got shape \(2,\); expected \(3,\)"):
        output_row(m, [True, False])
    with pytest.raises(ValueError, match=r"attention_mask: got shape \(2,\)"):
        output_row(m, "mean", attention_mask=[1, 1])
    with pytest.raises(ValueError, match="matrix: got 1 dimensions"):
        output_row(m[0], 0)


def test_token_bars_heights_and_options():
    from attnviz.plotting import token_bars

    tokens = ["a", "b", "c"]
    fig = token_bars({"x": [1.0, 2.0, 4.0], "y": [-1.0, 1.0, 2.0]}, tokens, normalize="max", highlight=1,
                     title="t", ylabel="share")
    ax = fig.axes[0]
    heights = [p.get_height() for p in ax.patches if p.get_width() < 0.5]  # bars, not the shaded span
    np.testing.assert_allclose(heights, [0.25, 0.5, 1.0, -0.5, 0.5, 1.0])  # each series / its max, by hand
    assert [t.get_text() for t in ax.get_xticklabels()] == tokens
    assert ax.get_ylabel() == "share" and ax.get_title() == "t"
    assert sorted(t.get_text() for t in ax.get_legend().get_texts()) == ["expected", "x", "y"]
    assert any(line.get_ydata()[0] == 0 for line in ax.lines)  # a zero line: a value is negative
    fig = token_bars(np.array([1.0, -3.0]), ["p", "q"], normalize="abs_sum", color_by_sign=True)
    bars = fig.axes[0].patches
    np.testing.assert_allclose([b.get_height() for b in bars], [0.25, -0.75])
    assert bars[0].get_facecolor() != bars[1].get_facecolor()
    assert fig.axes[0].get_legend() is None
    for call, words in [
        (lambda: token_bars([1.0, 2.0], ["a"]), "tokens"),
        (lambda: token_bars({"x": [1.0], "y": [1.0, 2.0]}, ["a"]), "series['y']"),
        (lambda: token_bars(np.ones((2, 2)), ["a", "b"]), "series: got shape (2, 2)"),
        (lambda: token_bars([1.0, np.nan], ["a", "b"]), "NaN"),
        (lambda: token_bars([1.0], ["a"], normalize="sum"), "normalize"),
        (lambda: token_bars([1.0], ["a"], highlight=4), "highlight"),
        (lambda: token_bars({}, []), "series"),
    ]:
        with pytest.raises(ValueError) as info:
            call()
        assert words in str(info.value)


def test_save_heatmap_html_writes_and_registers(tmp_path):
    import json

    from attnviz.outputs import LessonOutputs

    out = LessonOutputs("01_beginner/demo.py", tmp_path, quiet=True)
    path = out.save_heatmap_html("m", np.array([[0.25, 0.75], [1.0, 0.0]]), "a caption", xlabels=["alpha", "beta"],
                                 ylabels=["alpha", "beta"], title="the title")
    assert path == tmp_path / "m.html" and path.exists()
    html = path.read_text()
    assert '"alpha"' in html and "the title" in html  # the token labels and the title are in the page
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["files"] == [{"file": "m.html", "caption": "a caption", "command": out.command}]


def test_preloaded_default_is_handed_over_once(monkeypatch):
    from attnviz import models

    monkeypatch.setattr(models, "_PRELOADED", {})
    assert models.preload_defaults(["encoder"], device="cpu") == ["all-MiniLM-L6-v2"]
    first = models.load_model(device="cpu")
    second = models.load_model(device="cpu")
    assert first is not second  # the preloaded one once, then a fresh load
    assert models._PRELOADED == {}
    for a, b in zip(first.model.parameters(), second.model.parameters()):
        assert torch.equal(a, b)  # the same weights either way


# ------------------------------------------------------------------------------------------ threads
def test_map_on_threads_runs_side_by_side_in_order():
    """Two items on two threads must meet at a barrier: run one after the other, the first would wait for
    the second forever (the barrier times out and the test fails)."""
    import threading

    from attnviz.parallel import map_on_threads

    barrier = threading.Barrier(2, timeout=10)

    def work(item):
        barrier.wait()
        return item * item, threading.get_ident()

    results = map_on_threads(work, [3, 4], threads=2)
    assert [value for value, _ in results] == [9, 16]
    assert len({ident for _, ident in results}) == 2
    assert map_on_threads(lambda item: threading.get_ident(), [1, 2], threads=1) == [threading.get_ident()] * 2
    with pytest.raises(ZeroDivisionError):
        map_on_threads(lambda item: 1 / item, [1, 0], threads=2)


@pytest.mark.parametrize(("shape", "workers"), [((1, 11), 2), ((1, 512), 3), ((5, 8), 2), ((2, 9), 3)])
def test_flow_shares_cover_every_pair_once(shape, workers):
    """The flow solver's split between threads: every wanted pair in exactly one share; whole rows when there
    are rows enough, else one contiguous block of sinks per thread (so each thread's warm start goes from one
    sink to the next)."""
    from attnviz.maxflow import _shares

    pairs = np.random.default_rng(0).random(shape) < 0.8
    shares = _shares(pairs, workers)
    assert len(shares) == workers
    np.testing.assert_array_equal(np.sum(shares, axis=0), pairs.astype(int))  # a cover, and disjoint
    for share in shares:
        if shape[0] >= workers:  # whole rows
            assert all(not share[r].any() or (share[r] == pairs[r]).all() for r in range(shape[0]))
        else:  # one block of sinks: between its first and last sink every wanted sink is in it
            sinks = np.flatnonzero(share[0])
            assert (share[0][sinks[0]:sinks[-1] + 1] == pairs[0][sinks[0]:sinks[-1] + 1]).all()
    assert len(_shares(pairs, 1)) == 1


def test_attention_flow_uses_every_usable_core_by_default_unless_omp_num_threads_is_lower(monkeypatch):
    import os

    from advanced.attention_flow import AttentionFlow

    cores = len(os.sched_getaffinity(0))
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert AttentionFlow().workers == cores
    for limit, expected in (("1", 1), (str(cores + 5), cores), ("0", 1), ("many", cores)):
        monkeypatch.setenv("OMP_NUM_THREADS", limit)
        assert AttentionFlow().workers == expected, limit
    assert AttentionFlow(workers=3).workers == 3  # asked for explicitly: as asked
