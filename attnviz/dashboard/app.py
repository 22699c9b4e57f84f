"""The dashboard's page: a Dash app whose callbacks draw the numbers of :mod:`attnviz.dashboard.compute`.

Dash serves its own JavaScript (React, plotly.js, the component bundles) from the installed packages
(``serve_locally=True``), and the head and model views are the lesson's own self-contained pages
(``views.js``) shown in frames: nothing is fetched from a CDN, so the page works offline.

The two views' frames stay loaded: each new input's data reaches them once, as a message
(``views_frame.js`` in the frame, ``assets/views_bridge.js`` in the page), posted as soon as it arrives (the
frames draw in their own process, beside the graphs); a layer change redraws the head view without asking
the server. The slower panels' numbers (views, flow, gradient) start on the server as soon as the input is
analysed (:func:`attnviz.dashboard.compute.prefetch`), before the page asks for them.

Every callback catches what a request can raise and answers with a message in the page — a stack trace
goes to the server's log, never to the page, and no request can stop the server.
"""

from __future__ import annotations

import sys
import time
import traceback
from pathlib import Path

import numpy as np

from attnviz.dashboard import compute

HERE = Path(__file__).resolve().parent
PANEL_ORDER = ("heatmap", "rollout", "flow", "gradient", "headview", "overview", "cross", "vit")
IFRAME_HEIGHT = {"headview": 640, "overview": 760}
# Token labels per axis at most. plotly.js measures every tick label in the page (a forced layout each), so
# a figure's drawing time grows with its labels (bench/bench_dashboard.py times the panels' redraws).
# Above 32 tokens every 2nd (3rd, ...) token is labelled; the hover names every cell's tokens.
MAX_TICK_LABELS = 32
# Every axis is drawn with ticklabeloverflow="allow": plotly's default for a numeric axis ("hide past div")
# measures each label a second time to hide those that stick out of the figure, and ours never do (the
# margins leave them room).
LABELS_DRAWN_AS_THEY_ARE = "allow"
USER_ERRORS = (ValueError, TypeError, FileNotFoundError, IndexError, KeyError)


# ------------------------------------------------------------------------------------------- helpers
def error_text(err: BaseException) -> str:
    """One line for the page. A user's mistake is shown as it is; anything else is named and logged."""
    from attnviz.models import ModelLoadError

    if isinstance(err, (compute.DashboardInputError, ModelLoadError, *USER_ERRORS)):
        return f"⚠ {err}"
    print("dashboard: unexpected error while answering a request:", file=sys.stderr)
    traceback.print_exc()
    return f"⚠ something went wrong computing this panel ({type(err).__name__}: {str(err)[:200]}); see the server log"


def tick_step(n_tokens: int) -> int:
    """Label every ``step``-th token so that an axis has at most :data:`MAX_TICK_LABELS` labels."""
    return max(1, -(-int(n_tokens) // MAX_TICK_LABELS))


def labels_note(n_tokens: int) -> str:
    """What the status line says when not every token is labelled ("" when all are)."""
    step = tick_step(n_tokens)
    ordinal = {2: "2nd", 3: "3rd"}.get(step, f"{step}th")
    return "" if step == 1 else f"; every {ordinal} token labelled (hover names each)"


def empty_figure(message: str = ""):
    import plotly.graph_objects as go

    fig = go.Figure()
    fig.update_layout(height=160, margin=dict(l=10, r=10, t=10, b=10), xaxis_visible=False, yaxis_visible=False,
                      annotations=[dict(text=message or "nothing to show", showarrow=False, x=0.5, y=0.5,
                                        xref="paper", yref="paper")], meta={"empty": True})
    return fig


def heatmap_figure(matrix, xlabels, ylabels, *, title: str, meta: dict, zmax: float = 1.0,
                   x_title: str = "key (attended to)", y_title: str = "query (attending)", colorbar: str = "weight",
                   alignment=None) -> dict:
    """A matrix with token labels; hover shows the row token, the column token and the value.

    A plain figure dictionary, as plotly.js reads it: building ``go.Figure`` objects validates every
    property in Python, which costs more than computing the numbers.
    """
    arr = np.asarray(matrix, dtype=float)
    xlabels, ylabels = [str(t) for t in xlabels], [str(t) for t in ylabels]
    hover = [[[y, x] for x in xlabels] for y in ylabels]  # (Q, K, 2): row token, column token per cell
    row_name, column_name = y_title.split(" ")[0], x_title.split(" ")[0]
    data = [{"type": "heatmap", "z": arr.tolist(), "x": list(range(arr.shape[1])), "y": list(range(arr.shape[0])),
             "zmin": 0.0, "zmax": zmax, "colorscale": "Viridis", "customdata": hover,
             "colorbar": {"title": {"text": colorbar}, "ticklabeloverflow": LABELS_DRAWN_AS_THEY_ARE},
             "hovertemplate": f"{row_name} %{{customdata[0]}}<br>{column_name} %{{customdata[1]}}<br>"
                              "value %{z:.4f}<extra></extra>"}]
    layout = {}
    if alignment is not None:  # the implied alignment: one marker per row on its argmax column
        data.append({"type": "scatter", "x": [int(x) for x in alignment], "y": list(range(len(alignment))),
                     "mode": "markers", "name": "alignment (argmax per row)", "hoverinfo": "skip",
                     "marker": {"symbol": "square-open", "size": 12, "color": "#ff3b30", "line": {"width": 2}}})
        layout["legend"] = {"orientation": "h", "y": -0.25}
    step = tick_step(max(arr.shape))
    side = int(min(640, 260 + 9 * max(arr.shape)))
    layout.update({
        "title": {"text": title, "x": 0.01, "xanchor": "left"}, "height": side + 60, "margin": {"l": 90, "r": 20, "t": 50, "b": 90}, "meta": meta,
        "xaxis": {"title": {"text": x_title}, "tickmode": "array", "tickvals": list(range(0, arr.shape[1], step)),
                  "ticktext": xlabels[::step], "tickangle": -90, "ticklabeloverflow": LABELS_DRAWN_AS_THEY_ARE},
        "yaxis": {"title": {"text": y_title}, "tickmode": "array", "tickvals": list(range(0, arr.shape[0], step)),
                  "ticktext": ylabels[::step], "autorange": "reversed", "ticklabeloverflow": LABELS_DRAWN_AS_THEY_ARE},
    })
    return {"data": data, "layout": layout}


def bars_figure(tokens, series: dict, *, title: str, meta: dict, y_title: str, mark: int | None = None) -> dict:
    """Grouped bars over the input tokens (a plain figure dictionary, like :func:`heatmap_figure`)."""
    tokens = [str(t) for t in tokens]
    data = [{"type": "bar", "x": list(range(len(tokens))), "y": np.asarray(values, float).tolist(), "name": name,
             "customdata": tokens, "hovertemplate": "token %{x}: %{customdata}<br>%{y:.4f}<extra>" + name + "</extra>"}
            for name, values in series.items()]
    step = tick_step(len(tokens))
    layout = {
        "title": {"text": title, "x": 0.01, "xanchor": "left"}, "barmode": "group", "height": 420,
        "margin": {"l": 60, "r": 20, "t": 50, "b": 120},
        "legend": {"orientation": "h", "y": -0.32, "x": 0, "yanchor": "top"}, "meta": meta,
        "xaxis": {"tickmode": "array", "tickvals": list(range(0, len(tokens), step)), "ticktext": tokens[::step],
                  "tickangle": -90, "title": {"text": "input token"}, "ticklabeloverflow": LABELS_DRAWN_AS_THEY_ARE},
        "yaxis": {"title": {"text": y_title}, "ticklabeloverflow": LABELS_DRAWN_AS_THEY_ARE},
    }
    if mark is not None:
        layout["shapes"] = [{"type": "line", "x0": mark, "x1": mark, "xref": "x", "y0": 0, "y1": 1, "yref": "paper",
                             "line": {"dash": "dot", "color": "#888"}}]
    return {"data": data, "layout": layout}


def _meta(a: compute.Analysis, **extra) -> dict:
    return {"key": a.key, "model": a.model_name, "text": a.text, "n_tokens": len(a.tokens), **extra}


# -------------------------------------------------------------------------------------- the panels
def draw_heatmap(a: compute.Analysis, layer: int, head: int):
    matrix = compute.head_matrix(a, layer, head)
    title = f"Layer {layer}, head {head} (fixed 0–1 scale)"
    return heatmap_figure(matrix, a.tokens, a.tokens, title=title, meta=_meta(a, layer=layer, head=head))


def draw_rollout(a: compute.Analysis):
    rolled = compute.rollout(a)
    return heatmap_figure(rolled, a.tokens, a.tokens, meta=_meta(a),
                          title=f"Rollout of {a.n_layers} layers (head mean, 0.5·A + 0.5·I)",
                          x_title="input token (where it came from)", y_title="position at the top", colorbar="share")


def draw_flow(a: compute.Analysis, row: int):
    values = compute.flow_row(a, row)
    rolled = compute.rollout(a)[row]
    title = f"Row {row} ({a.tokens[row]}): max-flow and rollout to each input token"
    return bars_figure(a.tokens, {f"flow F[{row}, j]": values, f"rollout R[{row}, j]": rolled}, title=title,
                       meta=_meta(a, row=row), y_title="value (flow ≤ 1; rollout rows sum to 1)", mark=row)


def draw_gradient(a: compute.Analysis, target, other):
    """Chefer relevance and plain rollout of the same row, each divided by its maximum (as in the lesson:
    relevance is not a probability, so the two share no scale); hover shows the raw values."""
    result = compute.gradient_relevance(a, target, other)
    raw = {"Chefer R − I": result["row"], "plain rollout": result["rollout_row"]}
    scaled = {name: np.asarray(v, float) / max(float(np.max(v)), 1e-12) for name, v in raw.items()}
    fig = bars_figure(a.tokens, scaled, title=result["label"], meta=_meta(a, target=result["target"],
                                                                          row=str(result["row_name"])),
                      y_title="each series ÷ its maximum")
    for trace, values in zip(fig["data"], raw.values()):
        trace["customdata"] = [[token, float(v)] for token, v in zip(a.tokens, values)]
        trace["hovertemplate"] = ("token %{x}: %{customdata[0]}<br>value %{customdata[1]:.5f} "
                                  "(%{y:.2f} of the maximum)<extra>" + trace["name"] + "</extra>")
    return fig


def draw_cross(a: compute.Analysis, layer: int, head: int):
    layer = min(layer, a.cross.shape[0] - 1)
    matrix, alignment = compute.cross_layer(a, layer, None)
    title = (f"Decoder layer {layer}, mean of {a.cross.shape[1]} heads: output “{a.output_text}” "
             "(□ = implied alignment)")
    return heatmap_figure(matrix, a.tokens, a.target_tokens, title=title, alignment=alignment,
                          x_title="source token (key)", y_title="output token (row predicts it)",
                          meta=_meta(a, layer=layer, alignment=[int(x) for x in alignment]))


def draw_vit(a: compute.Analysis, layer: int, head: int):
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    maps = compute.vit_maps(a, layer, head)
    image = (np.clip(a.image, 0, 1) * 255).astype(np.uint8)  # (S, S, 3)
    size = image.shape[0]
    patch = size / a.grid[0]
    predicted = int(np.argmax(a.logits)) if a.logits is not None else None
    label = a.class_names[predicted] if predicted is not None and a.class_names else "?"
    fig = make_subplots(rows=1, cols=3, subplot_titles=(f"input (predicted: {label})", f"layer {layer}, head {head}",
                                                       f"rollout of {a.n_layers} layers"))
    for col in (1, 2, 3):
        fig.add_trace(go.Image(z=image, hoverinfo="skip"), row=1, col=col)
    for col, (name, grid_map) in ((2, ("head", maps["head"])), (3, ("rollout", maps["rollout"]))):
        fig.add_trace(go.Heatmap(z=np.asarray(grid_map).tolist(), x0=patch / 2, dx=patch, y0=patch / 2, dy=patch, opacity=0.6,
                                 colorscale="Inferno", showscale=False, name=name, zmin=0, zmax=float(grid_map.max()),
                                 hovertemplate="patch row %{y}, column %{x}<br>[CLS] weight %{z:.4f}<extra></extra>"),
                      row=1, col=col)
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    fig.update_layout(height=340, margin=dict(l=10, r=10, t=40, b=10), meta=_meta(a, layer=layer, head=head))
    return fig


# ---------------------------------------------------------------------------------------- the layout
def _panel(name: str, body, note: str = ""):
    from dash import dcc, html

    title, lesson = compute.PANELS[name]
    return html.Section(id=f"panel-{name}", className="panel", children=[
        html.H3(title),
        html.P(className="lesson", children=["Taught in ", html.Code(lesson), note]),
        html.Div(id=f"{name}-status", className="status"),
        body,
        html.Div(className="command", children=[
            html.Span("Reproduce this figure: "), html.Code(id=f"{name}-command"),
            dcc.Clipboard(target_id=f"{name}-command", title="copy the command", className="copy")]),
    ])


def _graph(name: str):
    from dash import dcc

    return dcc.Graph(id=f"{name}-graph", figure=empty_figure("type a sentence"), config={"displaylogo": False})


FRAME_ROUTE = "/attnviz-views/"  # + "headview" or "overview": the frames' pages (see views_frame_page)


def _frame(name: str):
    from dash import html

    return html.Iframe(id=f"{name}-frame", src=FRAME_ROUTE + name, sandbox="allow-scripts",
                       style={"width": "100%", "height": f"{IFRAME_HEIGHT[name]}px", "border": "1px solid #ddd"})


def views_frame_page(panel: str) -> str:
    """The page of a views frame: ``views.css``, an empty ``#attnviz-root`` and ``#attnviz-data``, the
    lesson's ``views.js`` kept as text (it runs once per input, see ``views_frame.js``), and the loader."""
    import html as html_escape

    from attnviz.views import ASSETS

    if panel not in IFRAME_HEIGHT:
        raise ValueError(f"panel: got {panel!r}; expected one of {', '.join(IFRAME_HEIGHT)}")
    source = (ASSETS / "views.js").read_text(encoding="utf-8")
    if "</script" in source.lower():  # would end the element that keeps it as text
        raise ValueError("views.js contains '</script'; it cannot be kept inside a <script> element")
    return (f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8">\n<link rel="icon" href="data:,">\n'
            f'<title>{html_escape.escape(compute.PANELS[panel][0])}</title>\n'
            f'<style>\n{(ASSETS / "views.css").read_text(encoding="utf-8")}</style>\n</head>\n'
            f'<body data-panel="{panel}">\n<div id="attnviz-root"></div>\n'
            f'<script type="application/json" id="attnviz-data">{{}}</script>\n'
            f'<script type="text/x-attnviz-views" id="attnviz-views-source">{source}</script>\n'
            f'<script>\n{(HERE / "views_frame.js").read_text(encoding="utf-8")}</script>\n</body></html>\n')


def build_layout(max_tokens: int):
    from dash import dcc, html

    radio = {"inline": True, "inputStyle": {"marginRight": "3px"}, "labelStyle": {"marginRight": "10px"}}
    return html.Div(className="page", children=[
        html.Header([
            html.H1("Attention, live"),
            html.P(["Type a sentence (or drop an image for the ViT), pick a model, a layer and a head: every view "
                    "of the course redraws for that input. Each panel names the lesson that teaches it and the "
                    "command that reproduces its figure. Offline; inputs longer than "
                    f"{max_tokens} tokens are truncated, with a notice."]),
        ]),
        html.Div(className="controls", children=[
            html.Label("Model", htmlFor="model"),
            html.Div([
                dcc.RadioItems(id="model", value=compute.DEFAULT_MODEL, options=[
                    {"label": f"{name} ({kind})", "value": name} for name, kind in compute.MODEL_CHOICES.items()],
                    **radio),
                dcc.Input(id="model-path", type="text", debounce=True, className="wide",
                          placeholder="or any model: a local folder or a Hub id (press Enter; empty = the picker)"),
            ]),
            html.Label("Text", htmlFor="text"),
            dcc.Input(id="text", type="text", value=compute.DEFAULT_TEXTS["encoder"], debounce=True, className="wide",
                      placeholder="type a sentence and press Enter"),
            html.Label("Image"),
            dcc.Upload(id="image", className="upload", accept="image/*", multiple=False,
                       children=html.Div(["For a ViT: drop an image here or ", html.A("choose one"),
                                          " (default: a shipped test image)"])),
            html.Label("Layer"), dcc.RadioItems(id="layer", options=[], value=0, **radio),
            html.Label("Head"), dcc.RadioItems(id="head", options=[], value=0, **radio),
            html.Label("Flow row", htmlFor="row"),
            html.Div([dcc.Input(id="row", type="number", value=0, min=0, step=1, debounce=True),
                      html.Span(" (or hover a row of the heatmap or the rollout)", className="hint")]),
            html.Label("Gradient target"), dcc.RadioItems(id="target", options=[], value=None, **radio),
            html.Label("Second sentence", htmlFor="other"),
            dcc.Input(id="other", type="text", value=compute.DEFAULT_OTHER, debounce=True, className="wide"),
        ]),
        html.Div(id="message", className="message", role="alert"),
        html.Div(id="notice", className="notice"),
        dcc.Store(id="analysis"),
        dcc.Store(id="views-data"),  # the views' data of the input, handed to their frames in the page
        dcc.Store(id="views-posted"),
        html.Main(className="panels", children=[
            _panel("heatmap", _graph("heatmap")),
            _panel("rollout", _graph("rollout")),
            _panel("flow", _graph("flow"), note=" — computed exactly, only for the row shown"),
            _panel("gradient", _graph("gradient")),
            _panel("headview", _frame("headview"), note=" (views.js: hover a token, click a head)"),
            _panel("overview", _frame("overview"), note=" (every layer × head; click one to enlarge it)"),
            _panel("cross", _graph("cross")),
            _panel("vit", _graph("vit")),
        ]),
    ])


# -------------------------------------------------------------------------------------- the callbacks
def _options(n: int) -> list[dict]:
    return [{"label": str(i), "value": i} for i in range(n)]


def _clip(value, n: int) -> int:
    try:
        value = int(value)
    except (TypeError, ValueError):
        return 0
    return value if 0 <= value < n else 0


def register_callbacks(app, max_tokens: int) -> None:
    from dash import ClientsideFunction, Input, Output, State, ctx, no_update

    @app.callback(
        Output("analysis", "data"), Output("text", "value"), Output("layer", "options"), Output("layer", "value"),
        Output("head", "options"), Output("head", "value"), Output("target", "options"), Output("target", "value"),
        Output("message", "children"), Output("notice", "children"),
        Input("model", "value"), Input("model-path", "value"), Input("text", "value"), Input("image", "contents"),
        State("layer", "value"), State("head", "value"), State("target", "value"), State("row", "value"),
        State("other", "value"))
    def analyse_input(model, model_path, text, image, layer, head, target, row, other):
        try:
            name = (model_path or "").strip() or model or compute.DEFAULT_MODEL
            kind = compute.model_kind(name)
            if ctx.triggered_id in ("model", "model-path") and (not (text or "").strip()
                                                               or text in compute.DEFAULT_TEXTS.values()):
                text = compute.DEFAULT_TEXTS.get(kind) or compute.DEFAULT_TEXTS["encoder"]
            image_bytes = None
            if kind == "vit" and image:
                import base64

                image_bytes = base64.b64decode(image.split(",", 1)[-1], validate=False)
            start = time.perf_counter()
            a = compute.analyse(name, text if kind != "vit" else "", image=image_bytes, image_bytes=image_bytes,
                                max_tokens=max_tokens)
            seconds = time.perf_counter() - start
            targets = compute.gradient_targets(a)
            target = target if target in dict(targets) else compute.default_target(a)
            # the slower panels' numbers start now, while this answer travels to the page and the page asks
            compute.prefetch(a, row=_clip(row, len(a.tokens)), target=target, other=other)
            store = {"key": a.key, "kind": a.kind, "model": a.model_name, "tokens": a.tokens,
                     "n_layers": a.n_layers, "n_heads": a.n_heads, "seconds": seconds}
            return (store, text, _options(a.n_layers), _clip(layer, a.n_layers), _options(a.n_heads),
                    _clip(head, a.n_heads), [{"label": label, "value": value} for value, label in targets], target,
                    "", a.notice)
        except Exception as err:  # noqa: BLE001 - the page gets a message; the server keeps running
            return (no_update, no_update, no_update, no_update, no_update, no_update, no_update, no_update,
                    error_text(err), "")

    def panel(store, draw, *outputs_on_error):
        """A panel's outputs: left as they are before the first input; otherwise ``draw(analysis)`` on the
        cached analysis, and on any error the message in place of the figure."""
        if not store:
            return (no_update,) * (2 + len(outputs_on_error))
        try:
            return draw(compute.get_analysis(store["key"]))
        except Exception as err:  # noqa: BLE001
            return (empty_figure(""), error_text(err), *outputs_on_error)

    @app.callback(Output("heatmap-graph", "figure"), Output("heatmap-status", "children"),
                  Output("heatmap-command", "children"),
                  Input("analysis", "data"), Input("layer", "value"), Input("head", "value"))
    def heatmap_panel(store, layer, head):
        def draw(a):
            return (draw_heatmap(a, layer, head),
                    f"{len(a.tokens)} tokens; rows are queries, columns keys{labels_note(len(a.tokens))}",
                    compute.command("heatmap", a, layer=layer, head=head))
        return panel(store, draw, "")

    @app.callback(Output("rollout-graph", "figure"), Output("rollout-status", "children"),
                  Output("rollout-command", "children"), Input("analysis", "data"))
    def rollout_panel(store):
        return panel(store, lambda a: (draw_rollout(a), labels_note(len(a.tokens)).removeprefix("; "),
                                       compute.command("rollout", a)), "")

    @app.callback(Output("row", "value"), Input("heatmap-graph", "hoverData"), Input("rollout-graph", "hoverData"),
                  prevent_initial_call=True)
    def row_under_cursor(heatmap_hover, rollout_hover):
        hover = heatmap_hover if ctx.triggered_id == "heatmap-graph" else rollout_hover
        try:
            return int(hover["points"][0]["y"])
        except (TypeError, KeyError, IndexError, ValueError):
            return no_update

    @app.callback(Output("flow-graph", "figure"), Output("flow-status", "children"), Output("flow-command", "children"),
                  Input("analysis", "data"), Input("row", "value"))
    def flow_panel(store, row):
        def draw(a):
            n = len(a.tokens)
            chosen = _clip(row, n)
            note = "" if row in (chosen, None) else f"row {row} is out of range (0–{n - 1}); showing row 0. "
            return (draw_flow(a, chosen), note + "flow is a bottleneck (max-flow/min-cut), not a product of weights",
                    compute.command("flow", a))
        return panel(store, draw, "")

    @app.callback(Output("gradient-graph", "figure"), Output("gradient-status", "children"),
                  Output("gradient-command", "children"),
                  Input("analysis", "data"), Input("target", "value"), Input("other", "value"))
    def gradient_panel(store, target, other):
        def draw(a):
            figure = draw_gradient(a, target, other)
            row = figure["layout"]["meta"]["row"]
            return figure, f"row explained: {row}", compute.command("gradient", a, other=other or "")
        return panel(store, draw, "")

    @app.callback(Output("views-data", "data"), Output("headview-status", "children"),
                  Output("headview-command", "children"), Output("overview-status", "children"),
                  Output("overview-command", "children"), Input("analysis", "data"))
    def views_panels(store):
        """The views' data, once per input: the frames draw it (the head view at the picked layer)."""
        if not store:
            return (no_update,) * 5
        try:
            a = compute.get_analysis(store["key"])
            return (compute.views_data(a), "", compute.command("headview", a), "", compute.command("overview", a))
        except Exception as err:  # noqa: BLE001
            message = error_text(err)
            return no_update, message, "", message, ""

    app.clientside_callback(ClientsideFunction(namespace="attnviz", function_name="postViews"),
                            Output("views-posted", "data"), Input("views-data", "data"), Input("layer", "value"))

    @app.callback(Output("cross-graph", "figure"), Output("cross-status", "children"),
                  Output("cross-command", "children"), Output("panel-cross", "hidden"),
                  Input("analysis", "data"), Input("layer", "value"), Input("head", "value"))
    def cross_panel(store, layer, head):
        if store and store["kind"] != "seq2seq":
            return empty_figure(""), "", "", True

        def draw(a):
            chosen = min(_clip(layer, a.n_layers), a.cross.shape[0] - 1)
            return (draw_cross(a, chosen, head), "rows: output tokens; columns: source tokens",
                    compute.command("cross", a, layer=chosen), False)
        return panel(store, draw, "", False)

    @app.callback(Output("vit-graph", "figure"), Output("vit-status", "children"), Output("vit-command", "children"),
                  Output("panel-vit", "hidden"),
                  Input("analysis", "data"), Input("layer", "value"), Input("head", "value"))
    def vit_panel(store, layer, head):
        if store and store["kind"] != "vit":
            return empty_figure(""), "", "", True

        def draw(a):
            return (draw_vit(a, _clip(layer, a.n_layers), _clip(head, a.n_heads)),
                    "drawn over the image; each map on its own 0-to-max scale",
                    compute.command("vit", a, layer=layer, head=head), False)
        return panel(store, draw, "", False)


def create_app(max_tokens: int = compute.MAX_TOKENS):
    """The Dash app (not started). Its assets — Dash's own and ``assets/dashboard.css`` — are served locally."""
    from dash import Dash

    app = Dash(__name__, title="attnviz dashboard", update_title=None, serve_locally=True,
               assets_folder=str(HERE / "assets"), suppress_callback_exceptions=False)
    app.layout = build_layout(max_tokens)
    register_callbacks(app, max_tokens)

    @app.server.route(FRAME_ROUTE + "<panel>")
    def views_frame(panel):
        from flask import Response, abort

        if panel not in IFRAME_HEIGHT:
            abort(404)
        return Response(views_frame_page(panel), mimetype="text/html")

    return app
