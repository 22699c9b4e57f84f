"""Cross-attention extraction, alignment, and the RNN's three pictures.

The mechanics are checked on a randomly initialised tiny BART (offline, instant); the alignment claim on
the shipped ``tiny-bart-dates`` and ``gru-attention-dates``.
"""

import numpy as np
import pytest
import torch
from bad_attention import PROPERTY_SETTINGS, assert_rejects, bad_attention
from hypothesis import given

from attnviz.cross_figures import (
    animation_frames,
    attention_gif,
    gif_frame,
    layer_means_caption,
    layer_means_figure,
    plot_alignment,
    plot_cross_heads,
    plot_rnn_heatmap,
    plot_step_bars,
)
from attnviz.grading.fixtures import random_attention
from attnviz.plotting import describe_figure
from intermediate.cross_attention_viz import (
    DEFAULT_STEP,
    alignment_hits,
    cross_attentions,
    date_alignment_by_layer,
    date_example_for,
    date_token_spans,
    field_attention,
    implied_alignment,
)


@pytest.fixture(scope="module")
def random_bart():
    from attnviz.training import bart_dates

    torch.manual_seed(0)
    tokenizer = bart_dates.build_tokenizer()
    cfg = bart_dates.BartDatesConfig(d_model=16, layers=2, heads=2, ffn_dim=32)
    model = bart_dates.build_model(cfg, len(tokenizer))
    model.config._attn_implementation = "eager"
    return model.eval(), tokenizer


def test_rows_are_the_predicted_tokens_and_match_the_model(random_bart):
    model, tokenizer = random_bart
    sources, targets = ["Nov 21 2026", "the 1st of May, 1999"], ["2026-11-21", "1999-05-01"]
    cross = cross_attentions(model, tokenizer, sources, targets)
    assert cross.weights.shape[:3] == (2, 2, 2)  # (L, B, H, T, S)
    assert cross.target_tokens[0] == [*"2026-11-21", "</s>"]  # row t predicts output token t, last row </s>
    # the same numbers straight from the model, one example at a time, decoder fed "<s> y1 ... y10"
    for b in range(2):
        enc = tokenizer(sources[b], return_tensors="pt")
        dec = tokenizer(targets[b], return_tensors="pt")["input_ids"][:, :-1]  # <s> y1 … y10
        with torch.no_grad():
            out = model(**enc, decoder_input_ids=dec, output_attentions=True)
        want = torch.stack(out.cross_attentions)[:, 0].numpy()  # (L, H, T, S)
        n_s = enc["input_ids"].shape[1]
        np.testing.assert_allclose(cross.weights[:, b, :, :, :n_s], want, atol=1e-5)
        assert np.all(cross.weights[:, b, :, :, n_s:] == 0)  # padding source tokens get no weight
    np.testing.assert_allclose(cross.weights.sum(-1), 1.0, atol=1e-5)


def test_generated_rows_follow_the_generation(random_bart):
    model, tokenizer = random_bart
    cross = cross_attentions(model, tokenizer, ["March 3, 1999"], max_new_tokens=6)
    with torch.no_grad():
        generated = model.generate(**tokenizer(["March 3, 1999"], return_tensors="pt"), max_new_tokens=6)
    ids = generated[0].tolist()
    n_rows = int(cross.target_mask[0].sum())
    assert cross.target_tokens[0][:n_rows] == tokenizer.convert_ids_to_tokens(ids[1: n_rows + 1])


def test_implied_alignment_and_hits_by_hand():
    cross = np.array([[0.1, 0.7, 0.2], [0.6, 0.3, 0.1], [0.2, 0.2, 0.6]])  # (T, S)
    assert implied_alignment(cross).tolist() == [1, 0, 2]
    hits = alignment_hits(np.array([[1, 0, 2]]), [{"a": (1, 2), "b": (0, 1)}], {"a": (0, 2), "b": (1,)})
    assert hits.tolist() == [[True, False, True]]  # row 0 -> 1 in [1,2) yes; row 2 -> 2 not in [1,2); row 1 -> 0 in [0,1)


def test_transposed_and_bad_inputs_are_rejected():
    cross = random_attention(1, (4, 6))  # (T=4, S=6)
    src, tgt = list("abcdef"), list("wxyz")
    with pytest.raises(ValueError, match="transpose"):
        plot_alignment(cross.T, src, tgt)
    with pytest.raises(ValueError, match="sum to 1"):
        plot_rnn_heatmap(cross * 2, src, tgt)
    with pytest.raises(ValueError, match="does not end in"):
        plot_step_bars(cross, src[:5], tgt, 0)
    with pytest.raises(ValueError, match="step: got 5; the decoding steps are numbered 1 to 4"):
        plot_step_bars(cross, src, tgt, 5)
    with pytest.raises(ValueError, match="step: got 0"):
        plot_step_bars(cross, src, tgt, 0)
    with pytest.raises(ValueError, match="NaN"):
        attention_gif(cross * np.nan, src, tgt, "/dev/null")
    with pytest.raises(ValueError, match="targets"):
        cross_attentions(None, None, ["a", "b"], ["x"])


def test_gif_has_one_frame_per_decoding_step(tmp_path):
    import imageio.v3 as iio

    cross = random_attention(2, (5, 7))  # 5 decoding steps
    n = attention_gif(cross, list("abcdefg"), list("vwxyz"), tmp_path / "steps.gif")
    frames = iio.imread(tmp_path / "steps.gif", index=None)
    assert n == 5 and frames.shape[0] == 5
    matrices = animation_frames(cross)  # (frames, T, S)
    for t in range(5):
        np.testing.assert_allclose(matrices[t, : t + 1], cross[: t + 1])
        assert np.isnan(matrices[t, t + 1:]).all()


def test_bar_chart_bars_are_the_attention_row():
    cross = random_attention(3, (4, 9))
    tokens = list("aab  cdd.")  # repeated tokens must not be merged into one bar
    fig = plot_step_bars(cross, tokens, list("wxyz"), step=3)  # 1-based: step 3 is the third row
    ax = fig.axes[0]
    heights = [p.get_height() for p in sorted(ax.patches, key=lambda p: p.get_x())]
    np.testing.assert_allclose(heights, cross[2], atol=1e-12)
    assert "step 3 of 4, writing 'y'" in ax.get_title()
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "a", "b", "␣", "␣", "c", "d", "d", "."]


def test_rnn_heatmap_shows_the_matrix():
    cross = random_attention(4, (3, 5))
    info = describe_figure(plot_rnn_heatmap(cross, list("abcde"), list("xyz")))
    np.testing.assert_allclose(info["panels"][0]["data"], cross)
    assert info["panels"][0]["xticklabels"] == list("abcde") and info["panels"][0]["yticklabels"] == list("xyz")


# ------------------------------------------------------------------------------- the shipped models
def test_tiny_bart_alignment_matches_the_field_spans():
    from attnviz.models import load_model

    loaded = load_model(None, kind="seq2seq", device="cpu")
    rates = date_alignment_by_layer(loaded.model, loaded.tokenizer, n_dates=150, seed=2024)
    assert max(rates.values()) >= 0.8, rates


def test_gru_three_ways(tmp_path):
    import imageio.v3 as iio

    from attnviz.gru_attention import GRUAttentionSeq2Seq

    rnn = GRUAttentionSeq2Seq.from_pretrained("gru-attention-dates")
    result = rnn.translate("the 21st of November, 2026")
    n = attention_gif(result.attention, result.source_tokens, result.output_tokens, tmp_path / "g.gif")
    assert n == len(result.output_tokens) == iio.imread(tmp_path / "g.gif", index=None).shape[0]
    fig = plot_step_bars(result.attention, result.source_tokens, result.output_tokens, step=1)
    heights = [p.get_height() for p in sorted(fig.axes[0].patches, key=lambda p: p.get_x())]
    np.testing.assert_allclose(heights, result.attention[0], atol=1e-6)


def test_docstring_alignment_figures_hold_for_the_shipped_bart():
    """The lesson's docstring: layer 0 aligns about nine digits in ten, layer 1 about four in five (±0.05)."""
    from attnviz.models import load_model

    loaded = load_model(None, kind="seq2seq", device="cpu")
    rates = date_alignment_by_layer(loaded.model, loaded.tokenizer)  # the lesson's defaults: 200 fresh dates
    assert rates[0] == pytest.approx(0.9, abs=0.05), rates
    assert rates[1] == pytest.approx(0.8, abs=0.05), rates
    assert rates[0] > rates[1], "the docstring says the first layer aligns better than the second"


def test_a_model_without_cross_attention_is_refused_in_one_line(tmp_path, capsys):
    from zoo import build_zoo

    from attnviz.cli import run_lesson
    from intermediate.cross_attention_viz import main

    folder = build_zoo(tmp_path / "zoo", ["gpt2"])["gpt2"]
    capsys.readouterr()  # what building the checkpoint printed
    assert run_lesson(main, ["--model", str(folder), "--out", str(tmp_path / "out")]) == 2
    message = capsys.readouterr().err.strip()
    assert len(message.splitlines()) == 1 and "not an encoder-decoder" in message and "offline" not in message


@pytest.mark.parametrize("option", ["--seq2seq-model", "--causal-model"])
def test_bertviz_secondary_model_that_cannot_load_exits_2_naming_its_option(tmp_path, capsys, option):
    """Issue 14, lesson 3.3's seq2seq and decoder examples: a missing folder given to the option is one line
    on stderr that names the option (not "skipping ..." on stdout and exit 0), exit 2, nothing written."""
    from advanced.bertviz_style import main as bertviz_main
    from attnviz.cli import run_lesson

    missing, out = tmp_path / "no-such-model", tmp_path / "out"
    assert run_lesson(bertviz_main, [option, str(missing), "--out", str(out)]) == 2
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and f"{option}: no such folder" in err[0] and str(missing) in err[0], err
    assert "skipping" not in captured.out and not out.exists()


# ------------------------------------------------------------------- issue 13: claims computed and asserted
def test_field_attention_by_hand():
    # 2 layers, 3 output rows, 4 source tokens; field "a" = source [0, 2) read by row 0, "b" = [2, 4) by rows 1-2
    layer_means = np.array([[[0.6, 0.2, 0.1, 0.1], [0.0, 0.1, 0.8, 0.1], [0.1, 0.1, 0.2, 0.6]],
                            [[0.1, 0.1, 0.7, 0.1], [0.5, 0.1, 0.2, 0.2], [0.0, 0.0, 0.5, 0.5]]])
    stats = field_attention(layer_means, {"a": (0, 2), "b": (2, 4)}, {"a": (0,), "b": (1, 2)})
    np.testing.assert_allclose(stats.mass, [(0.8 + 0.9 + 0.8) / 3, (0.2 + 0.4 + 1.0) / 3])
    assert stats.uniform == pytest.approx(0.5)
    assert stats.hits.tolist() == [3, 1]  # layer 0: argmaxes 0, 2, 3; layer 1: 2 (miss), 0 (miss), 2 (hit)
    assert stats.monotone.tolist() == [True, False]  # 0 <= 2 <= 3; 2 > 0
    assert stats.source_order == ["a", "b"] and stats.digits == 3


def test_step_numbering_is_the_same_in_the_gif_and_the_bars():
    """Issue 13: the bars said "token 5" (0-based) where the GIF said "step 6/11" — now both 1-based."""
    cross = random_attention(5, (11, 7))
    src, out = list("abcdefg"), [*"2026-11-21", "</s>"]
    frame = gif_frame(cross, src, out, 6)
    bars = plot_step_bars(cross, src, out, 6)
    for fig in (frame, bars):
        assert "step 6 of 11, writing '1'" in fig.axes[0].get_title(), fig.axes[0].get_title()
    info = describe_figure(frame)["panels"][0]
    np.testing.assert_allclose(info["data"][:6], cross[:6])  # rows of steps 1-6 drawn, the 6th is current
    assert np.isnan(info["data"][6:]).all()
    # the grey rows are steps not decoded yet, and the colour bar says so (not "masked", as padding would be)
    label = describe_figure(frame)["colorbar_label"]
    assert "grey = not decoded yet" in label and "masked" not in label, label
    last = describe_figure(gif_frame(cross, src, out, 11))["colorbar_label"]
    assert "grey" not in last, last  # nothing hidden at the last step
    heights = [p.get_height() for p in sorted(bars.axes[0].patches, key=lambda p: p.get_x())]
    np.testing.assert_allclose(heights, cross[5])  # step 6 is the sixth row


@pytest.fixture(scope="module")
def shipped_bart():
    from attnviz.models import load_model

    torch.set_num_threads(1)
    return load_model(None, kind="seq2seq", device="cpu")


def test_layer_means_caption_states_what_the_default_input_shows(shipped_bart):
    """The cross_layer_means caption said "a clean staircase". Measured on the default date: every layer puts
    far more of each digit's attention in its own field than an even spread would, and none is a monotone
    staircase (the year comes first in the output and last in the source). The caption says so from numbers."""
    from attnviz.training.dates import TARGET_POSITIONS
    from intermediate.cross_attention_viz import DEFAULT_TEXT

    model, tokenizer = shipped_bart.model, shipped_bart.tokenizer
    cross = cross_attentions(model, tokenizer, [DEFAULT_TEXT])
    assert cross.outputs == ["2026-11-21"]
    example = date_example_for(DEFAULT_TEXT, cross.outputs[0])
    assert example is not None and example.source == DEFAULT_TEXT
    spans = date_token_spans(tokenizer, [example])[0]
    # the spans read by hand from the source tokens: '<s>' 't' 'h' 'e' ' ' '2' '1' 's' 't' ...
    tokens = cross.source_tokens[0]
    assert "".join(tokens[slice(*spans["day"])]) == "21st" and "".join(tokens[slice(*spans["year"])]) == "2026"
    layer_means = cross.weights[:, 0].mean(1)  # (L, B, H, T, S) -> (L, T, S)
    stats = field_attention(layer_means, spans)
    assert np.all(stats.mass > 2 * stats.uniform), (stats.mass, stats.uniform)
    assert stats.hits[0] >= stats.hits[1] and stats.hits[0] >= 7, stats.hits
    assert not stats.monotone.any(), "a layer is a monotone staircase now: the caption's claim flips"
    assert stats.source_order == ["day", "month", "year"]
    # an independent count of layer 0's hits: the argmax of each digit row inside its field
    best = layer_means[0].argmax(-1)
    manual = sum(spans[f][0] <= best[t] < spans[f][1] for f, rows in TARGET_POSITIONS.items() for t in rows)
    assert stats.hits[0] == manual
    # the docstring: the second layer "parks the dashes on <s>/</s>" (rows 4 and 7 of YYYY-MM-DD)
    n_s = int(cross.source_mask[0].sum())
    dashes = layer_means[1, [4, 7], :n_s].argmax(-1)
    assert all(tokens[d] in ("<s>", "</s>") for d in dashes), [tokens[d] for d in dashes]
    caption = layer_means_caption(stats)
    assert "not a clean staircase" in caption and "run from top right to bottom left" in caption
    assert f"{100 * stats.mass[0]:.0f}%" in caption and f"{stats.hits[0]} of 8" in caption
    assert date_example_for("not a date at all", "2026-11-21") is None
    assert "no known right alignment" in layer_means_caption(None)


def test_gru_docstring_example_holds():
    """attnviz/gru_attention.py's usage example: the output and the attention's shape."""
    from attnviz.gru_attention import GRUAttentionSeq2Seq

    result = GRUAttentionSeq2Seq.from_pretrained("gru-attention-dates").translate("the 21st of November, 2026")
    assert result.output == "2026-11-21"
    assert result.attention.shape == (11, 28)
    assert result.output_tokens[DEFAULT_STEP - 1] == "1", "the default bar chart step is the first month digit"


# ----------------------------------------------------------------------- issue 14: long text, bad input
def test_long_text_is_truncated_with_a_warning_for_bart(random_bart):
    model, tokenizer = random_bart
    text = " ".join(["November"] * 2000)
    with pytest.warns(UserWarning, match=r"--text: \d+ tokens is longer than the model's 64 source positions"):
        cross = cross_attentions(model, tokenizer, [text], max_new_tokens=4)
    assert cross.weights.shape[-1] == 64 and cross.source_tokens[0][-1] == "</s>"


def test_long_text_is_truncated_with_a_warning_for_the_gru():
    from attnviz.gru_attention import GRUAttentionSeq2Seq

    rnn = GRUAttentionSeq2Seq.from_pretrained("gru-attention-dates")
    with pytest.warns(UserWarning, match="longer than the GRU's 64 source positions"):
        result = rnn.translate("the 21st of November, 2026 " * 100)
    assert result.attention.shape[1] == 64
    assert result.source_tokens[:4] == ["<s>", "t", "h", "e"] and result.source_tokens[-1] == "</s>"
    with pytest.raises(TypeError, match="text"):
        rnn.translate(None)


def test_cli_with_a_2000_word_text_warns_in_one_line_each(tmp_path, capsys):
    from attnviz.cli import run_lesson
    from intermediate.cross_attention_viz import main

    text = " ".join(["the 21st of November, 2026"] * 400)  # 2,000 words
    assert run_lesson(main, ["--text", text, "--out", str(tmp_path)]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    warnings_printed = [line for line in err if line.startswith("warning:")]
    assert len(warnings_printed) == 2, err  # one for the BART, one for the GRU
    assert any("model's 64 source positions" in w for w in warnings_printed)
    assert any("GRU's 64 source positions" in w for w in warnings_printed)
    assert not any("Traceback" in line or line.startswith("error") for line in err), err


def test_bad_step_on_the_command_line_is_one_line(tmp_path, capsys):
    from attnviz.cli import run_lesson
    from intermediate.cross_attention_viz import main

    assert run_lesson(main, ["--step", "0", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: step: got 0; the decoding steps are numbered 1 to 11"]


SHAPE = (4, 6)  # (T, S)
SRC, TGT = list("abcdef"), list("wxyz")


@PROPERTY_SETTINGS
@given(bad=bad_attention(SHAPE))
def test_rnn_pictures_reject_bad_attention(bad):
    kind, array = bad
    assert_rejects(lambda: plot_rnn_heatmap(array, SRC, TGT), "attention")
    assert_rejects(lambda: plot_step_bars(array, SRC, TGT, 1), "attention")
    assert_rejects(lambda: gif_frame(array, SRC, TGT, 1), "attention")
    assert_rejects(lambda: attention_gif(array, SRC, TGT, "/nonexistent/never.gif"), "attention")
    if kind not in ("wrong_keys", "transposed"):  # animation_frames takes any (T, S), without tokens
        assert_rejects(lambda: animation_frames(array), "attention")


@PROPERTY_SETTINGS
@given(bad=bad_attention(SHAPE))
def test_alignment_functions_reject_bad_attention(bad):
    kind, array = bad
    # a (T, S-1) or (S, T) map is still a valid map to argmax, and (1, 1, 1, T, S) a valid (L, B, H, T, S)
    if kind not in ("wrong_keys", "transposed", "extra_dim"):
        assert_rejects(lambda: implied_alignment(array), "cross")
    assert_rejects(lambda: plot_alignment(array, SRC, TGT), "cross")
    assert_rejects(lambda: alignment_hits(array, [{"a": (0, 2)}], {"a": (0,)}), "alignment")


@PROPERTY_SETTINGS
@given(bad=bad_attention((2, 2, 4, 6)))
def test_head_figures_reject_bad_attention(bad):
    kind, array = bad
    assert_rejects(lambda: plot_cross_heads(array, SRC, TGT, "m"), "weights")
    assert_rejects(lambda: field_attention(array.mean(1) if isinstance(array, np.ndarray) and array.ndim == 4
                                           else array, {"a": (0, 2)}, {"a": (0,)}), "layer_means")


def test_layer_means_figure_draws_each_layer_on_one_scale():
    """Lesson 2.4's head-mean figure (moved to attnviz.cross_figures): one panel per layer, the layer's matrix,
    labelled by the tokens (space markers made visible), all on the 0-1 scale."""
    layer_means = np.stack([random_attention(seed, (3, 5)) for seed in (7, 8)])  # (L, T, S)
    info = describe_figure(layer_means_figure(layer_means, ["Ġa", "b", "c", "d", "e"], list("xyz"), "m"))
    assert len(info["panels"]) == 2
    for layer, panel in enumerate(info["panels"]):
        np.testing.assert_allclose(panel["data"], layer_means[layer])
        assert panel["title"] == f"layer {layer}, mean of heads" and panel["clim"] == (0.0, 1.0)
    assert info["panels"][0]["xticklabels"] == ["␣a", "b", "c", "d", "e"]


@PROPERTY_SETTINGS
@given(bad=bad_attention((2, 4, 6)))
def test_layer_means_figure_rejects_bad_attention(bad):
    kind, array = bad
    assert_rejects(lambda: layer_means_figure(array, SRC, TGT, "m"), "layer_means")


def test_alignment_hits_rejects_mismatched_spans():
    with pytest.raises(ValueError, match="token_spans"):
        alignment_hits(np.zeros((2, 3), dtype=int), [{"a": (0, 1)}], {"a": (0,)})
    with pytest.raises(ValueError, match="target_positions"):
        alignment_hits(np.zeros((1, 3), dtype=int), [{"a": (0, 1)}], {"a": (5,)})


def test_numeric_arguments_and_token_lists_are_checked(random_bart):
    model, tokenizer = random_bart
    cross = random_attention(6, (4, 6))
    with pytest.raises(ValueError, match="max_new_tokens: got 0"):
        cross_attentions(model, tokenizer, ["Nov 1 2026"], max_new_tokens=0)
    with pytest.raises(ValueError, match="n_dates: got 0"):
        date_alignment_by_layer(model, tokenizer, n_dates=0)
    with pytest.raises(ValueError, match="batch_size: got -1"):
        date_alignment_by_layer(model, tokenizer, n_dates=2, batch_size=-1)
    with pytest.raises(ValueError, match="min_weight: got -1"):
        plot_alignment(cross, SRC, TGT, min_weight=-1)
    with pytest.raises(ValueError, match="seconds_per_step: got 0"):
        attention_gif(cross, SRC, TGT, "/nonexistent/x.gif", seconds_per_step=0)
    for function in (plot_rnn_heatmap, plot_alignment):
        with pytest.raises(TypeError, match="source_tokens: expected a list of token strings"):
            function(cross, None, TGT)
    with pytest.raises(TypeError, match="output_tokens: expected a list"):
        plot_step_bars(cross, SRC, "wxyz", 1)
