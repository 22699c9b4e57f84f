"""Figures, captions and plumbing of lesson 2.4 (``02_intermediate/cross_attention_viz.py``): cross-attention.

- :func:`plot_cross_heads`, :func:`layer_means_figure`: every layer and head of one pair, and each layer's head mean;
- :func:`layer_means_caption`: the head-mean figure's caption, worded from the lesson's ``field_attention`` numbers;
- :func:`plot_alignment`: the implied alignment drawn on the two token rows;
- the RNN three ways: :func:`plot_rnn_heatmap`, :func:`attention_gif` (frames from :func:`gif_frame` and
  :func:`animation_frames`) and :func:`plot_step_bars`, all numbering decoding steps as :func:`step_label` and
  :func:`check_step` do (1-based);
- :func:`one_line_warnings`: truncation warnings as one line on stderr.

The measurements are the lesson's; these only draw and word them. This module sits below the lessons and never
imports one: the lesson's results come in as arguments.
"""

from __future__ import annotations

import sys
import warnings
from contextlib import contextmanager

import numpy as np

from attnviz.gru_attention import TruncatedInput
from attnviz.plotting import show_heatmaps, token_bars
from attnviz.validate import check_attention, check_cross_attention, check_tokens


# ---------------------------------------------------------------------------------------- captions
def layer_means_caption(stats) -> str:
    """The caption of the per-layer head-mean figure, filled from the numbers of the lesson's ``field_attention``
    (a ``FieldAttention``: ``mass``, ``uniform``, ``hits``, ``digits``, ``monotone``, ``source_order``), or
    ``None`` when the input is not one of the course's date formats."""
    text = ("Each decoder layer's heads averaged (rows: the output token each row predicts; columns: "
            "source tokens). ")
    if stats is None:
        return text + "This input is not one of the course's date formats, so there is no known right " \
                      "alignment to score it against."
    per_layer = "; ".join(f"layer {layer}: {100 * m:.0f}% of the attention inside the digit's own field, "
                          f"{h} of {stats.digits} digits aligned there"
                          for layer, (m, h) in enumerate(zip(stats.mass, stats.hits)))
    text += f"Output digits and their source field: {per_layer} (spread evenly: {100 * stats.uniform:.0f}%). "
    if stats.monotone.any():
        return text + "Layer " + ", ".join(str(i) for i in np.flatnonzero(stats.monotone)) + \
            " draws a monotone staircase: each digit reads at or right of the previous one."
    output_order = [field for field in ("year", "month", "day") if field in stats.source_order]
    runs = ("run from top right to bottom left" if stats.source_order == output_order[::-1]
            else "jump back and forth")
    return text + (f"It is not a clean staircase: the output writes {', '.join(output_order)} while the "
                   f"source has {', '.join(stats.source_order)}, so the field blocks {runs}.")


# ------------------------------------------------------------------------------------------- drawing
def plot_alignment(cross, source_tokens, target_tokens, *, title: str = "Implied alignment",
                   min_weight: float = 0.1):
    """The alignment drawn on the two token rows: source on top, output below, one line per weight.

    ``cross`` is one ``(T, S)`` map. Each line's opacity and width follow its weight (weights below
    ``min_weight`` are left out); the thick line of each output token goes to its argmax.
    """
    import matplotlib.pyplot as plt

    if isinstance(min_weight, bool) or not isinstance(min_weight, int | float) or not 0 <= min_weight <= 1:
        raise ValueError(f"min_weight: got {min_weight!r}; expected a weight from 0 to 1")
    n_t, n_s = _count(target_tokens, "target_tokens"), _count(source_tokens, "source_tokens")
    arr = check_cross_attention(cross, source_len=n_s, target_len=n_t, name="cross")
    if arr.ndim != 2:
        raise ValueError(f"cross: expected one (target, source) map, got shape {arr.shape}")
    source_tokens = check_tokens(source_tokens, n_s, name="source_tokens", axis="source (columns)")
    target_tokens = check_tokens(target_tokens, n_t, name="target_tokens", axis="target (rows)")
    width = max(n_s, n_t)
    xs, xt = np.linspace(0, width - 1, n_s), np.linspace(0, width - 1, n_t)  # spread both rows evenly
    fig, ax = plt.subplots(figsize=(max(6.0, 0.38 * width), 3.4), constrained_layout=True)
    cmap = plt.get_cmap("viridis")
    best = arr.argmax(-1)
    for t in range(n_t):
        for s in np.flatnonzero(arr[t] >= min_weight):
            w = float(arr[t, s])
            ax.plot([xt[t], xs[s]], [0, 1], color=cmap(0.15 + 0.7 * w), alpha=min(1.0, 0.25 + w),
                    lw=(3.0 if s == best[t] else 0.6) * (0.4 + w), solid_capstyle="round")
    for x, tok in zip(xs, source_tokens):
        ax.text(x, 1.04, _show(tok), ha="center", va="bottom", fontsize=9, family="monospace")
    for x, tok in zip(xt, target_tokens):
        ax.text(x, -0.04, _show(tok), ha="center", va="top", fontsize=10, family="monospace", weight="bold")
    ax.text(-1.2, 1.04, "source", ha="right", va="bottom", fontsize=9, style="italic")
    ax.text(-1.2, -0.04, "output", ha="right", va="top", fontsize=9, style="italic")
    ax.set_xlim(-3.5, width + 0.5)
    ax.set_ylim(-0.25, 1.25)
    ax.axis("off")
    ax.set_title(title)
    return fig


def _cross_map(attention, source_tokens, target_tokens, *, name: str, target_name: str) -> np.ndarray:
    """``attention`` checked as ``(..., target, source)`` against its two token lists."""
    return check_cross_attention(attention, source_len=_count(source_tokens, "source_tokens"),
                                 target_len=_count(target_tokens, target_name), name=name)


def _count(tokens, name: str) -> int:
    """How many labels ``tokens`` holds; a ``TypeError`` naming ``name`` when it is not a list of strings."""
    if not isinstance(tokens, list | tuple) or not all(isinstance(t, str) for t in tokens):
        raise TypeError(f"{name}: expected a list of token strings, got {type(tokens).__name__}")
    return len(tokens)


def _show(token: str) -> str:
    """Make spaces and the tokenizers' space markers visible in a label."""
    return "␣" if token.strip() == "" and token != "" else token.replace("Ġ", "␣").replace("▁", "␣")


def shown(tokens) -> list[str]:
    """Every label of ``tokens`` as :func:`_show` writes it."""
    return [_show(t) for t in tokens]


def plot_cross_heads(weights, source_tokens, target_tokens, name: str):
    """All layers × heads of one pair, ``(L, H, T, S)``, on one 0–1 scale."""
    arr = _cross_map(weights, source_tokens, target_tokens, name="weights", target_name="target_tokens")
    n_layers, n_heads = arr.shape[:2]
    titles = [[f"layer {layer}, head {head}" for head in range(n_heads)] for layer in range(n_layers)]
    return show_heatmaps(arr, xlabels=shown(source_tokens), ylabels=shown(target_tokens), titles=titles,
                         xlabel="source token (encoder)", ylabel="output token (decoder)", tick_labels=True,
                         panel_size=2.9, suptitle=f"{name}: cross-attention of every layer and head")


# ------------------------------------------------------------------------------------- the RNN, 3 ways
def plot_rnn_heatmap(attention, source_tokens, output_tokens, title: str = "GRU + Bahdanau attention"):
    """Way 1: the ``(T, S)`` heatmap of an RNN's attention."""
    arr = _cross_map(attention, source_tokens, output_tokens, name="attention", target_name="output_tokens")
    arr = check_attention(arr, "QK", name="attention")  # one (T, S) map, rows summing to 1
    return show_heatmaps(arr, xlabels=shown(source_tokens), ylabels=shown(output_tokens), titles=[title],
                         xlabel="source token", ylabel="output token (decoding step)")


def animation_frames(attention) -> np.ndarray:
    """The matrices of the animation: frame ``t`` shows rows ``0 … t`` and hides later steps (NaN).

    ``(T, S) -> (T, T, S)`` — one frame per decoding step.
    """
    arr = check_attention(attention, "QK", name="attention")
    return np.stack([_rows_so_far(arr, step) for step in range(1, arr.shape[0] + 1)])  # (T, T, S)


def _rows_so_far(arr: np.ndarray, step: int) -> np.ndarray:
    """``(T, S)``: the rows of steps ``1 … step`` as they are, the later ones NaN (not decoded yet)."""
    return np.where(np.arange(arr.shape[0])[:, None] < step, arr, np.nan)


def step_label(step: int, n_steps: int, token: str) -> str:
    """How every RNN picture names a decoding step: 1-based, "step k of n", with the token it writes."""
    return f"step {step} of {n_steps}, writing '{_show(token)}'"


def check_step(step, n_steps: int) -> int:
    """A 1-based decoding step ``1 … n_steps`` (the numbering the figures print), validated."""
    if isinstance(step, bool) or not isinstance(step, int | np.integer):
        raise TypeError(f"step: expected an integer decoding step, got {type(step).__name__}")
    if not 1 <= step <= n_steps:
        raise ValueError(f"step: got {step}; the decoding steps are numbered 1 to {n_steps}")
    return int(step)


GIF_SIZE = (7.5, 6.0)  # inches: every frame of the animation is drawn at this size


def _frame_parts(arr: np.ndarray, source_tokens, output_tokens, step: int):
    """What frame ``step`` shows: the matrix (later rows NaN), the row labels and the title; ``arr`` checked."""
    frame = _rows_so_far(arr, step)  # (T, S): later rows NaN
    written = "".join(o for o in output_tokens[:step] if not o.startswith("<"))
    rows = [_show(o) if i < step else "·" for i, o in enumerate(output_tokens)]  # "·": not yet written
    title = f"{step_label(step, arr.shape[0], output_tokens[step - 1])}; so far '{written}'"
    return frame, rows, title


def gif_frame(attention, source_tokens, output_tokens, step: int):
    """Frame ``step`` (1-based) of the animation: the rows decoded so far, the current one framed in red,
    later rows blank; the title names the step as :func:`step_label` does."""
    from matplotlib.patches import Rectangle

    arr = _cross_map(attention, source_tokens, output_tokens, name="attention", target_name="output_tokens")
    arr = check_attention(arr, "QK", name="attention")
    step = check_step(step, arr.shape[0])
    frame, rows, title = _frame_parts(arr, source_tokens, output_tokens, step)
    fig = show_heatmaps(frame, xlabels=shown(source_tokens), ylabels=rows, xlabel="source token",
                        ylabel="output token (decoding step)", panel_size=5.0, titles=[title],
                        masked_means="not decoded yet")
    fig.axes[0].add_patch(Rectangle((-0.5, step - 1.5), arr.shape[1], 1, fill=False, ec="red", lw=2))
    return fig


def gif_images(attention, source_tokens, output_tokens) -> list[np.ndarray]:
    """The animation's frames as ``(height, width, 3)`` RGB arrays, one per decoding step, all laid out alike.

    Each frame is :func:`gif_frame` at :data:`GIF_SIZE`, with one difference: the layout is computed once,
    for the widest row labels and the tallest title of any step, and every frame uses it — the heatmap
    stays put while the animation plays, instead of shifting as labels appear. One figure is drawn again
    and again, its image, row labels, title and red frame updated (for the last step, with no hidden row
    and so no "grey = not decoded yet" note, a fresh figure) instead of building and laying out a figure
    per frame.
    ``test_plotting`` checks each frame against a fresh :func:`gif_frame` drawn at the same layout.
    """
    import matplotlib.pyplot as plt

    from attnviz.plotting import _tick_text, _wrap

    arr = _cross_map(attention, source_tokens, output_tokens, name="attention", target_name="output_tokens")
    arr = check_attention(arr, "QK", name="attention")
    n_steps = arr.shape[0]
    parts = [_frame_parts(arr, source_tokens, output_tokens, step) for step in range(1, n_steps + 1)]
    wrapped = [_wrap(title, 5.0, 11) for _, _, title in parts]  # as show_heatmaps wraps a one-panel title
    all_rows = [_tick_text(row) for row in parts[-1][1]]  # every row written: the widest labels
    fig = gif_frame(arr, source_tokens, output_tokens, 1)
    fig.set_size_inches(*GIF_SIZE)
    panel = fig.axes[0]
    panel.set_yticklabels(all_rows, fontsize=8)
    panel.title.set_text(max(wrapped, key=lambda t: (t.count("\n"), len(t))))  # the tallest title
    fig.get_layout_engine().execute(fig)
    fig.set_layout_engine(None)  # laid out once: every frame keeps these positions
    positions = [ax.get_position() for ax in fig.axes]  # the panel, then its colour bar
    image, red_frame = panel.images[0], panel.patches[0]
    images = []
    for step, (frame, rows, _title) in enumerate(parts, start=1):
        if step < n_steps:  # later rows hidden: the same figure with this step's image and labels
            hidden = np.isnan(frame)  # (T, S)
            image.set_data(np.ma.masked_array(frame, mask=hidden))  # NaN under the mask, as show_heatmaps
            panel.set_yticklabels([_tick_text(row) for row in rows], fontsize=8)
            panel.title.set_text(wrapped[step - 1])
            red_frame.set_y(step - 1.5)
            drawn = fig
        else:  # nothing hidden any more: a fresh figure (its colour bar has no "grey = not decoded yet" note)
            drawn = gif_frame(arr, source_tokens, output_tokens, step)
            drawn.set_size_inches(*GIF_SIZE)
            drawn.set_layout_engine(None)
            for ax, position in zip(drawn.axes, positions):
                ax.set_position(position)
        drawn.canvas.draw()
        images.append(np.asarray(drawn.canvas.buffer_rgba())[..., :3].copy())  # (h, w, 3)
        if drawn is not fig:
            plt.close(drawn)
    plt.close(fig)
    return images


def attention_gif(attention, source_tokens, output_tokens, path, seconds_per_step: float = 0.6):
    """Way 2: an animated GIF with one frame per decoding step (:func:`gif_images`); returns the number of
    frames."""
    import imageio.v2 as imageio

    if isinstance(seconds_per_step, bool) or not isinstance(seconds_per_step, int | float) \
            or not 0 < seconds_per_step <= 60:
        raise ValueError(f"seconds_per_step: got {seconds_per_step!r}; expected a duration in (0, 60] "
                         "seconds")
    images = gif_images(attention, source_tokens, output_tokens)
    imageio.mimsave(path, images, duration=seconds_per_step * 1000, loop=0)
    return len(images)


def plot_step_bars(attention, source_tokens, output_tokens, step: int):
    """Way 3: a bar chart of one decoding step's attention row (bars in source order, on a 0–1 scale).

    ``step`` is 1-based, as the animation counts: step ``k`` is row ``k - 1`` of the ``(T, S)`` matrix."""
    arr = _cross_map(attention, source_tokens, output_tokens, name="attention", target_name="output_tokens")
    check_attention(arr, "QK", name="attention")
    step = check_step(step, arr.shape[0])
    label = step_label(step, arr.shape[0], output_tokens[step - 1])
    fig = token_bars(arr[step - 1], shown(source_tokens), ylabel="attention weight (probability)",
                     title=f"Where the decoder looks at {label}")
    fig.axes[0].set_ylim(0, 1)
    fig.axes[0].set_xlabel("source token")
    return fig

def layer_means_figure(layer_means, source_tokens, target_tokens, name: str):
    """Each decoder layer's head mean ``(L, T, S)`` side by side, on one 0–1 scale."""
    arr = _cross_map(layer_means, source_tokens, target_tokens, name="layer_means", target_name="target_tokens")
    return show_heatmaps(arr[None], xlabels=shown(source_tokens), ylabels=shown(target_tokens),  # (1, L, T, S)
                         titles=[f"layer {layer}, mean of heads" for layer in range(len(arr))],
                         xlabel="source token (encoder)", ylabel="output token (decoder)", tick_labels=True,
                         panel_size=3.6, suptitle=f"{name}: head-mean cross-attention per layer")


# ---------------------------------------------------------------------------------------- plumbing
@contextmanager
def one_line_warnings():
    """Print every :class:`TruncatedInput` warning raised inside as one line on stderr ("warning: …")."""
    default = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, TruncatedInput):
            print(f"warning: {message}", file=sys.stderr)
        else:  # library deprecations and the like: shown as Python shows them
            default(message, category, filename, lineno, file, line)

    with warnings.catch_warnings():  # restores warnings.showwarning on the way out
        warnings.showwarning = show
        yield
