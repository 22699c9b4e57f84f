"""Cross-attention extraction, alignment, and the RNN's three pictures.

The mechanics are checked on a randomly initialised tiny BART (offline, instant); the alignment claim on
the shipped ``tiny-bart-dates`` and ``gru-attention-dates``.
"""

import numpy as np
import pytest
import torch

from attnviz.grading.fixtures import random_attention
from attnviz.plotting import describe_figure
from intermediate.cross_attention_viz import (
    alignment_hits,
    animation_frames,
    attention_gif,
    cross_attentions,
    date_alignment_by_layer,
    implied_alignment,
    plot_alignment,
    plot_rnn_heatmap,
    plot_step_bars,
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
    with pytest.raises(ValueError, match="step"):
        plot_step_bars(cross, src, tgt, 4)
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
    fig = plot_step_bars(cross, tokens, list("wxyz"), step=2)
    ax = fig.axes[0]
    heights = [p.get_height() for p in sorted(ax.patches, key=lambda p: p.get_x())]
    np.testing.assert_allclose(heights, cross[2], atol=1e-12)
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
    fig = plot_step_bars(result.attention, result.source_tokens, result.output_tokens, step=0)
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
