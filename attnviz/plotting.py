"""The one heatmap primitive behind every matrix figure in the course, and its interactive twin.

:func:`show_heatmaps` takes a grid of matrices ``(rows, cols, Q, K)`` and draws them with one shared
colour bar on a stated scale — a single head, a head grid, the layers × heads overview and
cross-attention are all calls to it, so every figure reads the same way: rows are queries (who is
looking), columns are keys (what is looked at), colour is the weight on a scale the colour bar names.
Masked cells (NaN, or ``masked=True``) are drawn grey, never in the colour of a real zero, and the colour
bar says so. Long titles and colour-bar labels are wrapped to the space they have, so they never overlap.

:func:`token_bars` draws one value per token (a row of a map, an attribution) as bars, one series or
several side by side — the course's one bar chart.

:func:`heatmap_html` writes the same matrix as a plotly HTML page whose hover shows query token, key
token and weight, each with its *position* (two "the" must be told apart); every such page loads one
shared copy of plotly.js by a relative path (:func:`write_plotly_html`), so it opens offline from the
file system. plotly reads label text as HTML, so every token is escaped (:func:`plotly_text`): ``<s>``
would otherwise start a strike-through and blank the axis.
"""

from __future__ import annotations

import os
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use(os.environ.get("MPLBACKEND", "Agg"))
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from attnviz.normalize import display_scale  # noqa: E402
from attnviz.validate import check_index, check_tokens, to_numpy  # noqa: E402

DEFAULT_CMAP = "viridis"  # perceptually uniform and readable in greyscale and by colour-blind readers
MAX_TICK_LABELS = 64  # beyond this, label every n-th token so the labels stay legible
MANY_PANELS = 16  # above this many panels, a fixed grid layout instead of matplotlib's constrained layout
MASKED_GREY = (0.6, 0.6, 0.6, 1.0)  # masked cells: a grey that no perceptually uniform map uses for 0
CHAR_WIDTH_IN = 0.085  # rough width of one character at 10 pt, in inches: enough to wrap text to a space


def _wrap(text: str, inches: float, fontsize: float = 10.0) -> str:
    """Wrap ``text`` to lines that fit ``inches`` at ``fontsize`` (existing line breaks are kept)."""
    width = max(8, int(inches / (CHAR_WIDTH_IN * fontsize / 10.0)))
    return "\n".join(textwrap.fill(line, width) if line else line for line in str(text).split("\n"))


def _tick_text(label: str) -> str:
    """A token as matplotlib tick text: a ``$`` would start mathtext (``$5 to $6`` fails to render)."""
    return str(label).replace("$", r"\$")


def plotly_text(label) -> str:
    """A label for plotly: ``<`` and ``>`` escaped, because plotly parses label text as HTML.

    ``<s>`` (BART's start token) would start a strike-through and blank every tick after it. Escaping only
    the angle brackets keeps the function idempotent (an escaped label passes through unchanged).
    """
    return str(label).replace("<", "&lt;").replace(">", "&gt;")


def _as_grid(matrices) -> np.ndarray:
    arr = to_numpy(matrices, "matrices")
    if arr.ndim == 2:
        return arr[None, None]  # (1, 1, Q, K)
    if arr.ndim == 3:
        return arr[None]  # (1, n, Q, K): one row of panels
    if arr.ndim == 4:
        return arr  # (rows, cols, Q, K)
    raise ValueError(f"matrices: expected 2 to 4 dimensions (rows, cols, query, key), got shape {arr.shape}")


def _checked_grid(matrices, masked) -> np.ndarray:
    """The grid ``(rows, cols, Q, K)`` with masked cells as NaN; rejects empty, Inf and all-masked input."""
    grid = _as_grid(matrices)  # (rows, cols, Q, K)
    if grid.size == 0:
        raise ValueError(f"matrices: got an empty array of shape {grid.shape}; expected at least one cell")
    if np.isinf(grid).any():
        raise ValueError(f"matrices: contains {int(np.isinf(grid).sum())} Inf values (shape {grid.shape}); "
                         "expected finite values (NaN marks a masked cell)")
    if masked is not None:
        cells = to_numpy(masked, "masked")
        try:
            cells = np.broadcast_to(cells, grid.shape)  # (rows, cols, Q, K), trailing axes aligned
        except ValueError:
            raise ValueError(f"masked: got shape {cells.shape}; expected a boolean array that broadcasts "
                             f"to the matrices' shape {grid.shape}") from None
        if not np.isin(cells, (0, 1)).all():
            raise ValueError("masked: expected booleans (True = masked cell, drawn grey)")
        grid = np.where(cells.astype(bool), np.nan, grid)
    if np.isnan(grid).all():
        raise ValueError(f"matrices: every cell is NaN or masked (shape {grid.shape}); nothing to draw")
    return grid


def _set_token_ticks(ax, labels: Sequence[str] | None, n: int, axis: str, show: bool) -> None:
    setter_ticks, setter_labels = (ax.set_xticks, ax.set_xticklabels) if axis == "x" else (ax.set_yticks, ax.set_yticklabels)
    if labels is None or not show:
        setter_ticks([])
        return
    step = max(1, int(np.ceil(n / MAX_TICK_LABELS)))
    positions = np.arange(0, n, step)
    setter_ticks(positions)
    if axis == "x":
        setter_labels([_tick_text(labels[i]) for i in positions], rotation=90, fontsize=8)
    else:
        setter_labels([_tick_text(labels[i]) for i in positions], fontsize=8)


def _leave_out_of_layout(ax) -> None:
    """Keep an inner panel's tick labels out of the layout computation; they are still drawn.

    Every panel of a :func:`show_heatmaps` grid has the same token labels, so the space a row or a column
    of panels needs is set by any one panel in it: the bottom row's and the first column's panels (which
    also carry the axis labels placed beside their tick labels) measure it for all. The layout then
    measures those panels' labels only, and puts every panel exactly where it would have been
    (``test_plotting`` compares the pixels).
    """
    for label in [*ax.get_xticklabels(), *ax.get_yticklabels()]:
        label.set_in_layout(False)


def show_heatmaps(
    matrices,
    *,
    xlabels: Sequence[str] | None = None,
    ylabels: Sequence[str] | None = None,
    titles=None,
    xlabel: str = "key (attended to)",
    ylabel: str = "query (attending)",
    scale: str = "fixed",
    vmin: float | None = None,
    vmax: float | None = None,
    colorbar_label: str | None = None,
    cmap: str = DEFAULT_CMAP,
    suptitle: str | None = None,
    panel_size: float | None = None,
    tick_labels: bool | None = None,
    annotate: bool = False,
    masked=None,
    masked_means: str = "masked",
):
    """Draw ``(Q, K)``, ``(n, Q, K)`` or ``(rows, cols, Q, K)`` matrices as one grid with one colour bar.

    Args:
        matrices: the weights; every panel shares the colour scale.
        xlabels / ylabels: key / query token strings (one per column / row of each matrix).
        titles: one title per panel, as a flat list or a ``(rows, cols)`` nested list.
        scale: ``"fixed"`` (0–1 probability), ``"row"`` (per-row maximum) or ``"minmax"`` (the misleading
            one, for the lesson that shows why) — see :mod:`attnviz.normalize`. ``vmin``/``vmax`` override
            the scale's limits for quantities that are not probabilities (scores, distances).
        tick_labels: draw token labels on every panel (default: only when the grid is small).
        annotate: write each value in its cell (for small teaching matrices).
        masked: optional booleans broadcastable to the matrices (``True`` = masked, e.g. padding). Masked
            cells — and NaN cells — are drawn grey, not in the colour of a real zero, and the colour-bar
            label says "grey = masked".
        masked_means: what the grey cells are, in that label (the animation's later rows: "not decoded yet").

    Values are not required to be probabilities (scores and distances are drawn too, with ``vmin``/``vmax``);
    they must be finite apart from NaN, which means "masked".

    Returns:
        The matplotlib ``Figure``. Each panel holds one ``AxesImage`` whose data is the displayed matrix
        (a masked array: masked cells are its mask).
    """
    grid = _checked_grid(matrices, masked)  # (rows, cols, Q, K), masked cells NaN
    n_rows, n_cols, n_q, n_k = grid.shape
    hidden = np.isnan(grid)  # (rows, cols, Q, K)
    if xlabels is not None:
        xlabels = check_tokens(xlabels, n_k, name="xlabels", axis="key (columns)")
    if ylabels is not None:
        ylabels = check_tokens(ylabels, n_q, name="ylabels", axis="query (rows)")
    # masked cells take the smallest real value while the scale is computed (so min-max and per-row
    # scales ignore them), then are hidden again
    shown, lo, hi, label = display_scale(np.where(hidden, np.nanmin(grid), grid), scale)
    shown = np.ma.masked_array(np.where(hidden, np.nan, shown), mask=hidden)  # NaN data under the mask
    lo = lo if vmin is None else vmin
    hi = hi if vmax is None else vmax
    label = colorbar_label or label
    if hidden.any():
        label += f"; grey = {masked_means}"
    colour_map = plt.get_cmap(cmap).with_extremes(bad=MASKED_GREY)
    if tick_labels is None:
        tick_labels = n_rows * n_cols <= 4 and max(n_q, n_k) <= 2 * MAX_TICK_LABELS
    if panel_size is None:
        panel_size = max(2.0, min(0.22 * max(n_q, n_k) + 1.5, 9.0)) if tick_labels else 1.6
    many = n_rows * n_cols > MANY_PANELS  # a fixed grid: constrained layout costs seconds per figure there
    width, height = panel_size * n_cols + 1.4, panel_size * n_rows + 0.9
    fig, axes = plt.subplots(
        n_rows, n_cols, figsize=(width, height), squeeze=False, constrained_layout=not many,
        gridspec_kw={"left": 0.9 / width, "right": 1 - 1.1 / width, "bottom": 0.6 / height,
                     "top": 1 - 0.75 / height, "wspace": 0.12, "hspace": 0.45} if many else None,
    )
    flat_titles = _flatten_titles(titles, n_rows, n_cols)
    image = None
    for r in range(n_rows):
        for c in range(n_cols):
            ax = axes[r, c]
            image = ax.imshow(shown[r, c], cmap=colour_map, vmin=lo, vmax=hi, aspect="auto",
                              interpolation="nearest")
            _set_token_ticks(ax, xlabels, n_k, "x", tick_labels or r == n_rows - 1 and n_rows * n_cols == 1)
            _set_token_ticks(ax, ylabels, n_q, "y", tick_labels or c == 0 and n_rows * n_cols == 1)
            if r < n_rows - 1 and c > 0:
                _leave_out_of_layout(ax)
            if flat_titles is not None:
                size = 9 if n_rows * n_cols > 1 else 11
                # y=1.0: the title sits on the panel's top edge (there are no tick labels up there to avoid),
                # which spares matplotlib re-measuring every tick label to place each title at every draw
                ax.set_title(_wrap(flat_titles[r * n_cols + c], panel_size, size), fontsize=size, y=1.0)
                ax.attnviz_title = flat_titles[r * n_cols + c]  # as given, unwrapped: describe_figure
            if annotate:
                for (i, j), v in np.ndenumerate(grid[r, c]):
                    if np.isnan(v):
                        continue
                    ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=7,
                            color="white" if (v - lo) < 0.6 * (hi - lo) else "black")
            if r == n_rows - 1 and (tick_labels or n_rows * n_cols == 1):
                ax.set_xlabel(xlabel)
            if c == 0 and (tick_labels or n_rows * n_cols == 1):
                ax.set_ylabel(ylabel)
    if n_rows * n_cols > 1 and not tick_labels:
        fig.supxlabel(xlabel, fontsize=9)
        fig.supylabel(ylabel, fontsize=9)
    if many:  # the colour bar in the right margin the fixed grid left free
        cbar = fig.colorbar(image, cax=fig.add_axes((1 - 0.95 / width, 0.15, 0.18 / width, 0.7),
                                                    label="<colorbar>"))
    else:
        cbar = fig.colorbar(image, ax=axes, shrink=0.8 if n_rows > 1 else 1.0, pad=0.01)
    # the label runs along the bar: wrap it to the bar's length so it never reaches a title
    bar_length = height * (0.7 if many else 0.8 if n_rows > 1 else 1.0) - 0.6
    cbar.set_label(_wrap(label, max(bar_length, 1.0), 10))
    cbar.ax.attnviz_label = label
    if suptitle:
        fig.suptitle(_wrap(suptitle, width - 0.2, 12))
        fig.attnviz_suptitle = suptitle
    return fig


def _flatten_titles(titles, n_rows: int, n_cols: int):
    if titles is None:
        return None
    if isinstance(titles, str):
        titles = [titles]
    flat = [t for row in titles for t in (row if isinstance(row, list | tuple) else [row])]
    if len(flat) != n_rows * n_cols:
        raise ValueError(f"titles: got {len(flat)} titles for {n_rows} × {n_cols} panels")
    return flat


def describe_figure(fig) -> dict:
    """The data a test (or grader) compares instead of pixels: per panel, the image array, tick
    labels, colour limits and title, plus the colour-bar label. Titles and labels are given as they were
    passed, before :func:`show_heatmaps` wrapped them to fit."""
    panels = []
    for ax in fig.axes:
        if not ax.images:
            continue
        im = ax.images[0]
        panels.append({
            "data": np.asarray(im.get_array(), dtype=float),
            "xticklabels": [t.get_text() for t in ax.get_xticklabels()],
            "yticklabels": [t.get_text() for t in ax.get_yticklabels()],
            "clim": tuple(float(v) for v in im.get_clim()),
            "title": getattr(ax, "attnviz_title", ax.get_title()),
            "cmap": im.get_cmap().name,
        })
    colorbar_labels = [getattr(ax, "attnviz_label", ax.get_ylabel()) for ax in fig.axes
                       if not ax.images and ax.get_label() == "<colorbar>"]
    return {"panels": panels, "colorbar_label": colorbar_labels[0] if colorbar_labels else "",
            "suptitle": getattr(fig, "attnviz_suptitle", fig._suptitle.get_text() if fig._suptitle else "")}


BAR_NORMALIZATIONS = (None, "max", "abs_sum")


def token_bars(
    series,
    tokens: Sequence[str],
    *,
    title: str = "",
    ylabel: str = "value",
    normalize: str | None = None,
    highlight: int | None = None,
    highlight_label: str = "expected",
    color_by_sign: bool = False,
):
    """One value per token as bars — a row of a rollout, a relevance or an attribution; returns the Figure.

    Args:
        series: one ``(K,)`` array, or a mapping ``{legend label: (K,) array}`` drawn as grouped bars.
        tokens: the ``K`` token strings under the bars.
        normalize: ``None`` (values as given), ``"max"`` (each series divided by its maximum, so series on
            different scales share one axis) or ``"abs_sum"`` (each divided by ``Σ|values|``: shares of the total).
        highlight: a token position to shade grey (e.g. where the answer is), labelled ``highlight_label``.
        color_by_sign: colour positive bars blue and negative ones red (one series only).

    A zero line is drawn when a value is negative. The bars are ``fig.axes[0].patches``, series after series,
    so a test can read their heights; callers may draw more on ``fig.axes[0]`` (a bound, a threshold).
    """
    named = dict(series) if isinstance(series, Mapping) else {"": series}
    if not named:
        raise ValueError("series: got an empty mapping; expected at least one (K,) array of values")
    if normalize not in BAR_NORMALIZATIONS:
        raise ValueError(f"normalize: got {normalize!r}; expected one of {BAR_NORMALIZATIONS}")
    values = {}
    for label, v in named.items():
        arr = to_numpy(v, f"series[{label!r}]" if label else "series")
        if arr.ndim != 1:
            raise ValueError(f"series{'[' + repr(label) + ']' if label else ''}: got shape {arr.shape}; "
                             "expected 1 dimension (key,), one value per token")
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"series{'[' + repr(label) + ']' if label else ''}: contains NaN or Inf values")
        values[label] = arr
    n = len(next(iter(values.values())))
    tokens = check_tokens(tokens, n, name="tokens", axis="bar")
    for label, arr in values.items():
        if len(arr) != n:
            raise ValueError(f"series[{label!r}]: got {len(arr)} values; expected {n}, like the first series")
    if color_by_sign and len(values) > 1:
        raise ValueError(f"color_by_sign: only for one series, got {len(values)}")
    if normalize == "max":
        values = {k: v / max(v.max(), 1e-12) for k, v in values.items()}
    elif normalize == "abs_sum":
        values = {k: v / (np.abs(v).sum() or 1.0) for k, v in values.items()}
    fig, ax = plt.subplots(figsize=(max(6.5, 0.45 * n), 3.6), constrained_layout=True)
    x = np.arange(n)
    width = 0.8 / len(values)
    for k, (label, arr) in enumerate(values.items()):
        colour = np.where(arr >= 0, "C0", "C3") if color_by_sign else f"C{k}"
        ax.bar(x + (k - (len(values) - 1) / 2) * width, arr, width=width, label=label or None, color=colour)
    if highlight is not None:
        spot = check_index(highlight, n, name="highlight")
        ax.axvspan(spot - 0.45, spot + 0.45, color="0.85", zorder=0, label=highlight_label)
    if min(v.min() for v in values.values()) < 0:
        ax.axhline(0, color="0.3", lw=0.6)
    ax.set_xticks(x, [_tick_text(t) for t in tokens], rotation=90, fontsize=7 if n > 30 else 9)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    if len(values) > 1 or highlight is not None or "" not in values:
        # outside the axes, right of the bars: a legend inside would cover some of them
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
    return fig


PLOTLY_JS = "plotly.min.js"


def write_plotly_html(fig, path) -> Path:
    """Write a plotly figure as an HTML page that opens offline, sharing one copy of plotly.js.

    plotly.js is 4.6 MB; embedded in every page, a course run wrote it a dozen times. Instead it is written
    once — to ``outputs/plotly.min.js`` for pages under ``outputs/``, else beside the page — and each page
    loads it by a *relative* path (``../../plotly.min.js``), so the pages still open from the file system,
    with no server and no network. Tick labels of every axis are escaped (:func:`plotly_text`) on the way
    out, since plotly reads them as HTML. Returns the page's path.
    """
    from plotly.offline import get_plotlyjs

    from attnviz import OUTPUTS_DIR

    path = Path(path).resolve()
    outputs = OUTPUTS_DIR.resolve()
    library_dir = outputs if outputs in path.parents else path.parent
    library = library_dir / PLOTLY_JS
    script = get_plotlyjs()
    if not library.exists() or library.stat().st_size != len(script.encode()):
        library_dir.mkdir(parents=True, exist_ok=True)
        partial = library.with_suffix(f".{os.getpid()}.tmp")  # two lessons may write it at once
        partial.write_text(script, encoding="utf-8")
        partial.replace(library)
    relative = os.path.relpath(library, path.parent).replace(os.sep, "/")
    for axis in [*fig.select_xaxes(), *fig.select_yaxes()]:
        if axis.ticktext is not None:
            axis.ticktext = [plotly_text(t) for t in axis.ticktext]
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.write_html(str(path), include_plotlyjs=relative, full_html=True)
    return path


def heatmap_figure(
    matrix,
    *,
    xlabels: Sequence[str],
    ylabels: Sequence[str],
    title: str,
    zmin: float = 0.0,
    zmax: float = 1.0,
    colorbar_title: str = "weight",
    x_title: str = "key (attended to)",
    y_title: str = "query (attending)",
):
    """The plotly figure :func:`heatmap_html` writes (see there); returns a ``plotly.graph_objects.Figure``.

    Each cell's ``customdata`` is ``(query position, query token, key position, key token)`` and the hover
    reads those four fields: ``%{x}``/``%{y}`` would show the *tick text* on these axes, so two "the"
    would look alike. NaN cells (masked) show no hover. Labels and title are escaped for plotly.
    """
    import plotly.graph_objects as go

    arr = to_numpy(matrix, "matrix")
    if arr.ndim != 2:
        raise ValueError(f"matrix: expected 2 dimensions (query, key), got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"matrix: got an empty array of shape {arr.shape}; expected at least one cell")
    if np.isinf(arr).any() or np.isnan(arr).all():
        raise ValueError(f"matrix: expected finite values (NaN marks a masked cell), got "
                         f"{int(np.isinf(arr).sum())} Inf and {int(np.isnan(arr).sum())} NaN of {arr.size}")
    xlabels = check_tokens(xlabels, arr.shape[1], name="xlabels", axis="key (columns)")
    ylabels = check_tokens(ylabels, arr.shape[0], name="ylabels", axis="query (rows)")
    n_q, n_k = arr.shape
    hover = np.empty((n_q, n_k, 4), dtype=object)  # (Q, K, 4): query position, token, key position, token
    hover[..., 0] = np.arange(n_q)[:, None]
    hover[..., 1] = np.array([plotly_text(t) for t in ylabels], dtype=object)[:, None]
    hover[..., 2] = np.arange(n_k)[None, :]
    hover[..., 3] = np.array([plotly_text(t) for t in xlabels], dtype=object)[None, :]
    fig = go.Figure(go.Heatmap(
        z=arr, x=np.arange(n_k), y=np.arange(n_q), zmin=zmin, zmax=zmax, hoverongaps=False,
        colorscale="Viridis", customdata=hover, colorbar={"title": {"text": plotly_text(colorbar_title)}},
        hovertemplate=("query %{customdata[0]}: %{customdata[1]}<br>key %{customdata[2]}: %{customdata[3]}"
                       "<br>weight %{z:.4f}<extra></extra>"),
    ))
    step = max(1, int(np.ceil(max(arr.shape) / MAX_TICK_LABELS)))
    fig.update_xaxes(title=plotly_text(x_title), tickmode="array", tickvals=list(range(0, n_k, step)),
                     ticktext=[plotly_text(t) for t in xlabels[::step]], tickangle=-90)
    fig.update_yaxes(title=plotly_text(y_title), tickmode="array", tickvals=list(range(0, n_q, step)),
                     ticktext=[plotly_text(t) for t in ylabels[::step]], autorange="reversed")
    side = int(min(1100, 300 + 14 * max(arr.shape)))
    fig.update_layout(title=plotly_text(title), width=side + 120, height=side)
    return fig


def heatmap_html(matrix, *, xlabels: Sequence[str], ylabels: Sequence[str], title: str, path, **options):
    """Write an interactive heatmap: hover shows query position and token, key position and token, and the
    weight; the page loads the one shared copy of plotly.js by a relative path (:func:`write_plotly_html`),
    so it works offline. ``options`` are :func:`heatmap_figure`'s (``zmin``, ``zmax``, ``colorbar_title``,
    ``x_title``, ``y_title``). Returns the path.

    Token strings repeat ("the" twice), and plotly merges repeated category labels, so the axes are
    numeric positions with the tokens as tick text and as hover data.
    """
    fig = heatmap_figure(matrix, xlabels=xlabels, ylabels=ylabels, title=title, **options)
    write_plotly_html(fig, path)
    return path
