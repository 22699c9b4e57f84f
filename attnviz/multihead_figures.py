"""Figures and captions of lesson 2.1 (``02_intermediate/multihead_visualization.py``): many heads at once.

- :data:`ROLE_THRESHOLD`, :func:`all_heads_caption`, :func:`overview_caption`: caption sentences written from
  the shares the lesson's ``head_roles`` and ``stripe_heads_per_layer`` measure;
- :func:`panel_size`, :func:`draw_layer_lines`: layout of the head grid and of the head-similarity matrix;
- :func:`overview_html`: all ``(L, H, Q, K)`` heads tiled in one interactive plotly heatmap;
- :func:`save_collapse_pair`, :func:`save_row_collapse`: the collapse figures with their captions, drawn with
  :func:`attnviz.plotting.show_heatmaps` and saved into a :class:`attnviz.outputs.LessonOutputs`.

The measurements are the lesson's; these only draw and word them. This module sits below the lessons and
never imports one: the lesson's results come in as arguments.
"""

from __future__ import annotations

import numpy as np

from attnviz.plotting import plotly_text, show_heatmaps, write_plotly_html
from attnviz.validate import check_attention, check_tokens

ROLE_THRESHOLD = 0.3  # a head "does" a pattern when it puts at least this share of each row there


# -------------------------------------------------------------------------------------------- captions
def _heads_doing(share, threshold: float = ROLE_THRESHOLD) -> str:
    heads = np.flatnonzero(share >= threshold)
    return ", ".join(f"{h} ({share[h]:.0%})" for h in heads)


def all_heads_caption(roles, layer: int, tokens, threshold: float = ROLE_THRESHOLD) -> str:
    """What the heads of one layer measurably do, in words, from the lesson's ``head_roles``."""
    n = len(tokens)
    names = {"previous": "the previous token", "next": "the next token", "self": "themselves",
             "first": f"the first token ({tokens[0]})", "last": f"the last token ({tokens[-1]})"}
    found, absent = [], []
    for role, share in roles.items():
        doing = _heads_doing(share, threshold)
        if doing:
            found.append(f"heads reading {names[role]}: {doing}")
        else:
            absent.append(f"{names[role]} ≤ {share.max():.2f}")
    summary = "; ".join(found) if found else "no head puts that much on any one of these targets"
    return (f"Every head of layer {layer} (share of each row, a head counted at ≥ {threshold:.0%}; uniform "
            f"would be 1/{n} = {1 / n:.3f}): {summary}. Largest share elsewhere: {', '.join(absent)}."
            " The head average would blur these patterns together.")


def overview_caption(stripes, model_name: str, n_layers: int, n_heads: int, tokens) -> str:
    """The model_overview caption: per layer, how many heads stripe on the first token (``stripes`` ``(L,)``)."""
    return (f"All {n_layers * n_heads} heads of {model_name} on one shared "
            f"0–1 scale, layers as rows. Heads that put ≥ {ROLE_THRESHOLD:.0%} of each row on the "
            f"first token ({tokens[0]}, a vertical stripe), layer by layer: "
            f"{', '.join(map(str, stripes))} of "
            f"{n_heads}. Look also for the diagonal and previous-token patterns, and at which depth "
            "each appears.")


# ---------------------------------------------------------------------------------------------- layout
def panel_size(n_tokens: int) -> float:
    """The side of one head's panel in inches for ``n_tokens`` tokens: 1.8 to 4.5."""
    return float(np.clip(0.16 * n_tokens + 1.2, 1.8, 4.5))


def draw_layer_lines(fig, layer_size, n_heads_total: int) -> None:
    """White lines every ``layer_size`` heads on the first axes of ``fig``, separating the layers."""
    if layer_size and layer_size < n_heads_total:
        ax = fig.axes[0]
        for edge in np.arange(layer_size, n_heads_total, layer_size) - 0.5:
            ax.axhline(edge, color="white", lw=0.8)
            ax.axvline(edge, color="white", lw=0.8)


# -------------------------------------------------------------------------------------------- figures
def overview_html(attention, tokens, path, title: str):
    """All ``(L, H, Q, K)`` heads tiled in one interactive heatmap.

    The hover names layer, head, query, key and weight.

    One plotly heatmap with a NaN gap between tiles is far lighter than ``L·H`` subplots. The page loads
    the shared plotly.js by a relative path, so it opens offline. The hover text mixes ``<br>`` tags with
    tokens, so the tokens are escaped here (:func:`attnviz.plotting.plotly_text`): ``<s>`` stays a token.
    """
    import plotly.graph_objects as go

    arr = check_attention(attention, "LHQK", name="attention")
    n_layers, n_heads, n_q, n_k = arr.shape
    tokens = check_tokens(tokens, n_q, name="tokens", axis="query")
    labels = [plotly_text(token) for token in tokens]  # HTML-safe: the hover text is parsed as HTML
    # one blank row/column between tiles: (L·(Q+1) - 1, H·(K+1) - 1)
    tiled = np.full((n_layers * (n_q + 1) - 1, n_heads * (n_k + 1) - 1), np.nan)
    hover = np.full(tiled.shape, "", dtype=object)
    for layer in range(n_layers):
        for head in range(n_heads):
            r0, c0 = layer * (n_q + 1), head * (n_k + 1)
            tiled[r0:r0 + n_q, c0:c0 + n_k] = arr[layer, head]  # (Q, K) tile
            for q in range(n_q):
                for k in range(n_k):
                    hover[r0 + q, c0 + k] = (f"layer {layer}, head {head}<br>query {q}: {labels[q]}"
                                             f"<br>key {k}: {labels[k]}")
    fig = go.Figure(go.Heatmap(z=tiled, zmin=0, zmax=1, colorscale="Viridis", text=hover, hoverongaps=False,
                               hovertemplate="%{text}<br>weight %{z:.4f}<extra></extra>",
                               colorbar={"title": {"text": "weight"}}))
    fig.update_xaxes(title="heads →", tickmode="array",
                     tickvals=[h * (n_k + 1) + n_k / 2 for h in range(n_heads)],
                     ticktext=[f"H{h}" for h in range(n_heads)])
    fig.update_yaxes(title="layers ↓", tickmode="array",
                     tickvals=[i * (n_q + 1) + n_q / 2 for i in range(n_layers)],
                     ticktext=[f"L{i}" for i in range(n_layers)], autorange="reversed")
    fig.update_layout(title=title, width=min(1600, 200 + 8 * tiled.shape[1]),
                      height=min(1200, 160 + 8 * tiled.shape[0]))
    write_plotly_html(fig, path)  # plotly.js once under outputs/, loaded by a relative path
    return path


def save_collapse_pair(out, pair, real_mean: float, fake_mean: float, real_flagged: bool, fake_flagged: bool,
                       layer: int, threshold: float):
    """Head-to-head distances ``(2, H, H)`` of a real layer and of its synthetic collapsed copy."""
    head_names = [str(h) for h in range(pair.shape[-1])]
    fig = show_heatmaps(pair, vmin=0, vmax=1, cmap="magma", xlabel="head", ylabel="head",
                        colorbar_label="mean Jensen–Shannon distance (base 2)",
                        xlabels=head_names, ylabels=head_names, tick_labels=True, panel_size=3.6,
                        titles=[f"real layer {layer}: mean {real_mean:.2f}",
                                f"collapsed copy: mean {fake_mean:.2f} (flagged)"],
                        suptitle="Attention collapse across heads: all heads alike")
    out.save_figure(fig, "collapse_demo", "Head-to-head distances of a real layer vs a synthetic collapsed "
                    f"layer (every head a noisy copy of one head): mean distance "
                    f"{real_mean:.2f} "
                    f"({'flagged' if real_flagged else 'not flagged'}) "
                    f"vs {fake_mean:.2f} "
                    f"({'flagged' if fake_flagged else 'not flagged'}) "
                    f"at the threshold {threshold}.")


def save_row_collapse(out, row_collapse, model_name: str, stripe_head: tuple, stripe_share: float,
                      read_most: int, tokens):
    """Per head, the collapse across queries ``(L, H)``; the caption names the most stripe-like head.

    ``stripe_head`` is its ``(layer, head)``; its rows put ``stripe_share`` on average on key ``read_most``."""
    n_layers, n_heads = row_collapse.shape
    low_layer, low_head = stripe_head
    fig = show_heatmaps(row_collapse, vmin=0, vmax=1, cmap="magma", xlabel="head", ylabel="layer",
                        xlabels=[str(h) for h in range(n_heads)], ylabels=[str(i) for i in range(n_layers)],
                        tick_labels=True, panel_size=5.0, annotate=True,
                        colorbar_label="mean distance of a row to the head's mean row",
                        titles=[f"{model_name}: collapse across queries "
                                "(low = every token reads the same keys)"])
    out.save_figure(fig, "row_collapse", "Per head, how different the rows are from each other. Values near "
                    "0 mean a vertical stripe: every query reads the same keys. The most stripe-like head "
                    f"here is L{low_layer}H{low_head} ({row_collapse[low_layer, low_head]:.2f}); "
                    f"its rows put {stripe_share:.0%} on average on key "
                    f"{read_most} ({tokens[read_most]}).")
