"""attnviz.plotting: what a reader sees — masked cells grey, text that does not collide, hover that names
positions, labels plotly cannot mistake for HTML, one shared plotly.js — and bad input rejected.

Pixels are read back from the rendered canvas where the claim is about pixels (the grey of a masked cell,
the overlap of two text boxes); everything else is checked on the figure's data.
"""

import re

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
from bad_attention import (  # noqa: E402
    BAD_KINDS,
    assert_rejects,
    each_bad_attention,
)

from attnviz.plotting import (  # noqa: E402
    MASKED_GREY,
    describe_figure,
    heatmap_figure,
    plotly_text,
    show_heatmaps,
    token_bars,
    write_plotly_html,
)


def _pixel(fig, ax, row: int, col: int) -> np.ndarray:
    """The RGBA (0-255) drawn at the centre of cell (row, col) of an image panel."""
    fig.canvas.draw()
    x, y = ax.transData.transform((col, row))  # display coordinates, origin bottom-left
    buffer = np.asarray(fig.canvas.buffer_rgba())  # (height, width, 4), origin top-left
    return buffer[int(round(buffer.shape[0] - y)), int(round(x))]


def _overlaps(a, b) -> bool:
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1


# ------------------------------------------------------------------------------------------ masked cells
def test_masked_cells_are_grey_not_the_colour_of_zero():
    matrix = np.array([[0.0, 1.0, 0.0], [0.5, 0.5, 0.0], [0.2, 0.3, 0.5]])
    masked = np.zeros((3, 3), dtype=bool)
    masked[0, 2] = True  # a padding cell whose value would be 0, like matrix[0, 0]
    fig = show_heatmaps(matrix, masked=masked, xlabels=list("abc"), ylabels=list("abc"))
    ax = fig.axes[0]
    grey = np.round(np.array(MASKED_GREY) * 255)
    zero = np.round(np.array(plt.get_cmap("viridis")(0.0)) * 255)
    np.testing.assert_allclose(_pixel(fig, ax, 0, 2), grey, atol=2)  # masked: grey
    np.testing.assert_allclose(_pixel(fig, ax, 0, 0), zero, atol=2)  # a real zero: the map's colour for 0
    info = describe_figure(fig)
    assert "grey = masked" in info["colorbar_label"]
    assert np.isnan(info["panels"][0]["data"][0, 2]) and info["panels"][0]["data"][0, 0] == 0.0
    plt.close(fig)


def test_nan_cells_are_masked_and_the_scale_ignores_them():
    matrix = np.array([[0.2, 0.8], [np.nan, np.nan]])  # a padding query row as NaN
    fig = show_heatmaps(matrix, scale="minmax")
    data = describe_figure(fig)["panels"][0]["data"]
    # min-max over the real cells only: 0.2 -> 0, 0.8 -> 1 (a NaN would have made every value NaN)
    np.testing.assert_allclose(data[0], [0.0, 1.0])
    np.testing.assert_allclose(_pixel(fig, fig.axes[0], 1, 0), np.round(np.array(MASKED_GREY) * 255), atol=2)
    plt.close(fig)


# -------------------------------------------------------------------------------------- text collisions
@pytest.mark.parametrize("layout", ["one panel", "one row"])
def test_titles_never_overlap_the_colour_bar_label(layout):
    rng = np.random.default_rng(0)
    long_title = "Keras-style array: example 1, head 2 (target × source), a long title"
    if layout == "one panel":
        m = rng.dirichlet(np.ones(6), size=4)  # (4, 6): a short, wide panel, as lesson 1.1's keras_style
        fig = show_heatmaps(m, titles=[long_title], xlabels=[f"s{j}" for j in range(6)],
                            ylabels=[f"t{i}" for i in range(4)], annotate=True)
    else:
        m = rng.dirichlet(np.ones(6), size=(5, 6))  # (5 panels, 6, 6), as lesson 1.1's multihead_module
        fig = show_heatmaps(m, titles=[f"head {h}" for h in range(5)],
                            suptitle="torch.nn.MultiheadAttention: average_attn_weights=False keeps the heads; "
                                     "the default silently averages them")
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    colorbar_ax = [ax for ax in fig.axes if not ax.images][0]
    label_box = colorbar_ax.yaxis.label.get_window_extent(renderer)
    titles = [ax.title for ax in fig.axes if ax.images] + ([fig._suptitle] if fig._suptitle else [])
    for title in titles:
        assert not _overlaps(title.get_window_extent(renderer), label_box), title.get_text()
    figure_box = fig.bbox
    for text in titles + [colorbar_ax.yaxis.label]:  # nothing runs off the canvas either
        box = text.get_window_extent(renderer)
        assert box.x0 >= -1 and box.x1 <= figure_box.x1 + 1, text.get_text()
    # the text as given stays readable from the figure's data
    info = describe_figure(fig)
    assert "\n" not in info["colorbar_label"] and info["suptitle"] in ("", info["suptitle"].replace("\n", " "))
    plt.close(fig)


def test_token_bars_legend_sits_outside_the_bars():
    fig = token_bars({"raw": [0.9, 0.05, 0.05], "rollout": [0.8, 0.1, 0.1]}, ["[CLS]", "a", "b"], highlight=0)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    ax = fig.axes[0]
    legend_box = ax.get_legend().get_window_extent(renderer)
    assert not _overlaps(legend_box, ax.get_window_extent(renderer))
    plt.close(fig)


def test_dollar_signs_in_tokens_are_drawn_literally():
    fig = show_heatmaps(np.eye(2), xlabels=["$5 or $6", "x"], ylabels=["$5 or $6", "x"])
    fig.canvas.draw()  # unescaped, mathtext would read "$5 or $" as a formula and drop the dollars
    ticks = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert ticks == [r"\$5 or \$6", "x"]
    plt.close(fig)


# ----------------------------------------------------------------------------------------------- plotly
def _render_hover(trace, row: int, col: int) -> str:
    """Fill a hovertemplate for one cell the way plotly does for %{customdata[i]} and %{z:.4f}."""
    text = trace.hovertemplate
    for i, value in enumerate(trace.customdata[row][col]):
        text = text.replace(f"%{{customdata[{i}]}}", str(value))
    text = text.replace("%{z:.4f}", f"{trace.z[row][col]:.4f}")
    return text.replace("<extra></extra>", "")


def test_hover_shows_positions_so_repeated_tokens_differ():
    tokens = ["[CLS]", "the", "cat", "saw", "the", "dog"]
    m = np.full((6, 6), 1 / 6)
    (trace,) = heatmap_figure(m, xlabels=tokens, ylabels=tokens, title="t").data
    assert "%{x}" not in trace.hovertemplate and "%{y}" not in trace.hovertemplate  # tick text, not positions
    first, second = _render_hover(trace, 1, 2), _render_hover(trace, 4, 2)
    assert first.startswith("query 1: the<br>key 2: cat") and second.startswith("query 4: the<br>key 2: cat")
    assert first != second and "weight 0.1667" in first


def test_plotly_labels_are_escaped():
    tokens = ["<s>", "21", "</s>"]
    fig = heatmap_figure(np.full((3, 3), 1 / 3), xlabels=tokens, ylabels=tokens, title="<s> to </s>")
    assert list(fig.layout.xaxis.ticktext) == ["&lt;s&gt;", "21", "&lt;/s&gt;"]
    assert list(fig.layout.yaxis.ticktext) == ["&lt;s&gt;", "21", "&lt;/s&gt;"]
    assert "<s>" not in _render_hover(fig.data[0], 0, 2) and "&lt;/s&gt;" in _render_hover(fig.data[0], 0, 2)
    assert fig.layout.title.text == "&lt;s&gt; to &lt;/s&gt;"
    assert plotly_text(plotly_text("<s>")) == "&lt;s&gt;"  # idempotent


def test_write_plotly_html_escapes_any_figures_ticks(tmp_path):
    import plotly.graph_objects as go

    fig = go.Figure(go.Heatmap(z=[[0.5, 0.5]]))
    fig.update_xaxes(tickmode="array", tickvals=[0, 1], ticktext=["<s>", "a"])
    page = write_plotly_html(fig, tmp_path / "p.html")
    assert "&lt;s&gt;" in page.read_text() and '"<s>"' not in page.read_text()


def test_plotly_js_written_once_and_shared_by_every_page(tmp_path, monkeypatch):
    import attnviz
    from attnviz.plotting import heatmap_html

    monkeypatch.setattr(attnviz, "OUTPUTS_DIR", tmp_path / "outputs")
    pages = [tmp_path / "outputs" / "01_beginner" / "lesson" / "a.html",
             tmp_path / "outputs" / "03_advanced" / "other" / "deeper" / "b.html"]
    for page in pages:
        heatmap_html(np.eye(2), xlabels=["x", "y"], ylabels=["x", "y"], title="t", path=page)
    scripts = list((tmp_path / "outputs").rglob("*.js"))
    assert [p.relative_to(tmp_path / "outputs").as_posix() for p in scripts] == ["plotly.min.js"]
    for page in pages:
        html = page.read_text()
        assert len(html) < 100_000  # plotly.js (4.6 MB) is not inlined
        (src,) = re.findall(r'<script[^>]* src="([^"]+)"', html)
        assert (page.parent / src).resolve() == scripts[0].resolve() and not src.startswith(("http", "/"))


# ------------------------------------------------------------------------------------------ bad input
def test_bad_matrices_are_rejected_with_the_argument_named():
    with pytest.raises(ValueError, match="matrices: contains 1 Inf"):
        show_heatmaps(np.array([[0.5, np.inf], [0.5, 0.5]]))
    with pytest.raises(ValueError, match="matrices: got an empty array"):
        show_heatmaps(np.zeros((0, 3)))
    with pytest.raises(ValueError, match="matrices: every cell is NaN"):
        show_heatmaps(np.full((2, 2), np.nan))
    with pytest.raises(ValueError, match="masked: got shape"):
        show_heatmaps(np.eye(2), masked=np.zeros(3, dtype=bool))
    with pytest.raises(TypeError, match="matrices"):
        show_heatmaps("not a matrix")
    with pytest.raises(ValueError, match="matrix: expected finite"):
        heatmap_figure(np.array([[np.inf]]), xlabels=["a"], ylabels=["a"], title="t")
    with pytest.raises(ValueError, match="matrix: got an empty"):
        heatmap_figure(np.zeros((0, 0)), xlabels=[], ylabels=[], title="t")


# ------------------------------------------------------------------------ property tests (bad_attention)
# show_heatmaps and heatmap_figure draw any finite values (scores and distances too, with vmin/vmax), and NaN
# means "masked": so negative, unnormalised, transposed and NaN input is drawn, by design (their docstrings say
# so). What they must reject is what cannot be drawn or labelled.
DRAWN_ANYWAY = ("nan", "negative", "unnormalised", "transposed")
REJECTED = tuple(k for k in BAD_KINDS if k not in DRAWN_ANYWAY)


@each_bad_attention((2, 5, 5), kinds=REJECTED)
def test_show_heatmaps_rejects_what_cannot_be_drawn(bad):
    kind, matrices = bad
    tokens = list("abcde")
    assert_rejects(lambda: show_heatmaps(matrices, xlabels=tokens, ylabels=tokens), "matrices", "xlabels",
                   "ylabels")
    plt.close("all")


@each_bad_attention((5, 5), kinds=REJECTED)
def test_heatmap_figure_rejects_what_cannot_be_drawn(bad):
    _, matrix = bad
    tokens = list("abcde")
    assert_rejects(lambda: heatmap_figure(matrix, xlabels=tokens, ylabels=tokens, title="t"), "matrix",
                   "xlabels", "ylabels")


BAR_KINDS = ("nan", "inf", "extra_dim", "wrong_keys", "string", "none")  # kinds that make sense for a (K,) row


@each_bad_attention((5,), kinds=BAR_KINDS)
def test_token_bars_rejects_bad_values(bad):
    _, values = bad
    assert_rejects(lambda: token_bars(values, list("abcde")), "series", "tokens")
    plt.close("all")


# ----------------------------------------------------------------------------------- outputs (--out)
@pytest.mark.parametrize("where", ["a file", "under a file"])
def test_out_that_is_not_a_folder_is_one_line_and_exit_2(tmp_path, capsys, where):
    from attnviz.cli import run_lesson
    from attnviz.outputs import LessonOutputs

    blocker = tmp_path / "figures.png"
    blocker.write_text("not a folder")
    out = blocker if where == "a file" else blocker / "sub"

    def main(argv):
        LessonOutputs("01_beginner/demo.py", argv[1])

    assert run_lesson(main, ["--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --out: ") and str(out) in err and err.count("\n") == 1


# ------------------------------------------------------------------------------ saving: one draw, same pixels
def _grid_figure(tokens=("[CLS]", "extraordinarily", "cat", "[SEP]")):
    """A 2 × 2 show_heatmaps grid with token labels on every panel."""
    rng = np.random.default_rng(1)
    grid = rng.dirichlet(np.ones(len(tokens)), size=(2, 2, len(tokens)))  # (rows, cols, Q, K)
    return show_heatmaps(grid, xlabels=list(tokens), ylabels=list(tokens), tick_labels=True,
                         titles=[f"head {h}" for h in range(4)], suptitle="a grid of heads")


def _read_png(path) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(path))


@pytest.mark.parametrize("fixed", [False, True], ids=["constrained layout", "fixed margins"])
def test_save_png_writes_savefigs_pixels_in_one_draw(tmp_path, monkeypatch, fixed):
    import attnviz.plotting
    from attnviz.outputs import save_png

    if fixed:  # the fixed-margin layout of a grid with many panels, here already from 4 panels
        monkeypatch.setattr(attnviz.plotting, "MANY_PANELS", 3)

    def counting_draws(fig):
        calls = []
        draw = fig.draw
        fig.draw = lambda renderer: calls.append(1) or draw(renderer)  # an instance attribute: this figure
        return calls

    reference = _grid_figure()  # matplotlib's own path: a layout engine, or bbox_inches="tight"
    assert (reference.get_layout_engine() is None) == fixed
    reference_draws = counting_draws(reference)
    reference.savefig(tmp_path / "savefig.png", dpi=100, bbox_inches="tight" if fixed else None)
    fig = _grid_figure()
    draws = counting_draws(fig)
    save_png(fig, tmp_path / "save_png.png", dpi=100)
    assert len(reference_draws) == 2 and len(draws) == 1  # savefig draws twice, save_png once
    expected, written = _read_png(tmp_path / "savefig.png"), _read_png(tmp_path / "save_png.png")
    assert written.shape == expected.shape and (written == expected).all()
    plt.close("all")


def test_inner_panels_tick_labels_out_of_layout_move_nothing(tmp_path):
    fig = _grid_figure()  # 2 × 2: the bottom row and the first column measure the labels for all
    measured = [ax for ax in fig.axes if ax.images and ax.get_xticklabels()[0].get_in_layout()]
    assert len(fig.axes) - 1 == 4 and len(measured) == 3  # 2 in the bottom row + 1 more in the first column
    fig.savefig(tmp_path / "left_out.png", dpi=100)
    reference = _grid_figure()
    for ax in reference.axes:  # every tick label measured again: the layout as constrained layout makes it
        for label in [*ax.get_xticklabels(), *ax.get_yticklabels()]:
            label.set_in_layout(True)
    reference.savefig(tmp_path / "all_measured.png", dpi=100)
    written, expected = _read_png(tmp_path / "left_out.png"), _read_png(tmp_path / "all_measured.png")
    assert written.shape == expected.shape and (written == expected).all()
    plt.close("all")


def test_gif_frames_are_fresh_frames_at_one_layout():
    """attention_gif draws one figure again and again (updating image, labels, title, red frame); each frame
    must be what a fresh gif_frame draws at the same positions — and those positions never change."""
    from attnviz.cross_figures import GIF_SIZE, gif_frame, gif_images

    rng = np.random.default_rng(3)
    source, output = ["le", "$5", "."], ["costs", "$5", "</s>"]  # 3 steps: two redrawn, the last fresh
    cross = rng.dirichlet(np.ones(len(source)), size=len(output))  # (T, S): one row per decoding step
    frames = gif_images(cross, source, output)
    assert len(frames) == len(output)
    last = gif_frame(cross, source, output, len(output))  # every row label written: the widest layout
    last.set_size_inches(*GIF_SIZE)
    last.get_layout_engine().execute(last)
    positions = None
    for step, image in enumerate(frames, start=1):
        fresh = gif_frame(cross, source, output, step)
        fresh.set_size_inches(*GIF_SIZE)
        fresh.set_layout_engine(None)
        if positions is None:  # the GIF's layout: read off the first frame's panel edge and colour bar
            layout = gif_frame(cross, source, output, 1)
            layout.set_size_inches(*GIF_SIZE)
            layout.axes[0].set_yticklabels(last.axes[0].get_yticklabels(), fontsize=8)
            layout.axes[0].set_title(last.axes[0].get_title(), fontsize=11, y=1.0)
            layout.get_layout_engine().execute(layout)
            positions = [ax.get_position() for ax in layout.axes]
        for ax, position in zip(fresh.axes, positions):
            ax.set_position(position)
        fresh.canvas.draw()
        expected = np.asarray(fresh.canvas.buffer_rgba())[..., :3]
        assert image.shape == expected.shape and (image == expected).all(), f"frame {step}"
        plt.close(fresh)
    plt.close("all")
