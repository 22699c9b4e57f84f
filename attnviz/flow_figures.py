"""Figures, captions and plumbing of lesson 3.1 (``03_advanced/attention_flow.py``): attention flow.

- :func:`flow_heatmap`: one flow matrix on a fixed 0–1 scale (``AttentionFlow.visualize`` draws with it);
- :func:`flow_vs_rollout_figure`, :func:`row_shape_figure`, :func:`save_flow_html`: flow next to rollout,
  on one fixed scale, row by row, and as an interactive page;
- :func:`bound_figure`: one row of flow with its rollout and the trivial bottleneck ``min(1, Σ_k Â_1[k, j])``;
- :func:`gradient_layers_figure`, :func:`gradient_comparison_figure`: gradient-weighted attention per layer,
  and rollout/flow of attention next to rollout/flow of the gradient-weighted maps;
- the caption and title text (:func:`spread_caption`, :func:`row_shape_text`, :func:`bottleneck_title`,
  :func:`bottleneck_caption`, :func:`gradient_caption`), filled from numbers the lesson measures;
- plumbing: :func:`column_choice` (a ``(K,)`` 0/1 argument check), :func:`check_solver_options`,
  :func:`rows_among_real` (``compute_flow``'s ``rows=`` on a padded input), :func:`add_flow_options`,
  :func:`load_encoder` (model, inputs, attention) and :func:`sentence_embedding` (the similarity target).

The measurements are the lesson's; these only draw them and put them into words.
"""

from __future__ import annotations

import numpy as np

from attnviz.outputs import save_png
from attnviz.parallel import default_threads
from attnviz.plotting import heatmap_html, show_heatmaps, token_bars
from attnviz.validate import check_attention, check_tokens, to_numpy


# ================================================================================================ figures
def flow_heatmap(flow, tokens, *, title: str | None = None, normalized: bool = False, save_path=None):
    """Heatmap of a flow matrix on a fixed 0–1 scale (a flow from one top token never exceeds 1)."""
    arr = check_attention(flow, "QK", name="flow", stochastic=False, square=True)
    tokens = check_tokens(tokens, arr.shape[0], name="tokens", axis="query/key")
    label = "share of the row's total flow" if normalized else "max-flow value (≤ 1, fixed 0–1 scale)"
    fig = show_heatmaps(arr, xlabels=tokens, ylabels=tokens, titles=[title or "Attention flow"],
                        xlabel="input token (sink)", ylabel="position at the top layer (source)",
                        vmin=0.0, vmax=1.0, colorbar_label=label, annotate=len(tokens) <= 12)
    if save_path is not None:
        save_png(fig, save_path, dpi=130)
    return fig


def flow_vs_rollout_figure(flow, rollout, tokens, name: str, n_layers: int):
    """Flow ``(Q, K)`` and rollout ``(Q, K)`` side by side, raw values on one fixed 0–1 scale."""
    return show_heatmaps(np.stack([flow, rollout])[None], xlabels=tokens, ylabels=tokens, tick_labels=True,
                         titles=["attention flow F (max-flow value)", "rollout Â_L⋯Â_1"],
                         xlabel="input token", ylabel="position at the top layer", vmin=0, vmax=1,
                         colorbar_label="value on a fixed 0–1 scale",
                         suptitle=f"{name}: attention flow vs rollout ({n_layers} layers, head mean, "
                                  "0.5·A + 0.5·I)")  # (1, 2, Q, K): one row of two panels


def row_shape_figure(normalized_flow, rollout, tokens, flow_spreads: bool):
    """Row-normalised flow and rollout, each row on its own scale; ``flow_spreads``: the measured verdict."""
    return show_heatmaps(np.stack([normalized_flow, rollout])[None], xlabels=tokens, ylabels=tokens,
                         tick_labels=True, scale="row", titles=["flow, rows normalised to sum 1", "rollout"],
                         xlabel="input token", ylabel="position at the top layer",
                         suptitle="The shape of each row: " + row_shape_verdict(flow_spreads))


def save_flow_html(out, flow, tokens, name: str) -> None:
    """The interactive ``flow.html`` (hover: top position, input token, max-flow value), registered in ``out``."""
    heatmap_html(flow, xlabels=tokens, ylabels=tokens, path=out.path("flow.html"),
                 title=f"{name}: attention flow (hover: top position, input token, max-flow value)",
                 x_title="input token", y_title="position at the top layer", colorbar_title="max-flow")
    out.register("flow.html", "Interactive attention flow: hover a cell for the top position, the input "
                 "token and the max-flow value.")


def bound_figure(flow_row, rollout_row, first_layer_cap, tokens, title: str):
    """Bars of one flow row and its rollout row, with the trivial bottleneck ``min(1, Σ_k Â_1[k, j])``."""
    fig = token_bars({"attention flow F[row, j]": flow_row, "rollout R[row, j]": rollout_row}, tokens,
                     title=title, ylabel="value (flow ≤ 1; rollout row sums to 1)")
    fig.axes[0].plot(np.arange(len(tokens)), np.minimum(1.0, first_layer_cap), "k_", markersize=16,
                     markeredgewidth=2, label="bottleneck min(1, Σ_k Â_1[k, j])")
    fig.axes[0].legend(fontsize=8)
    return fig


GRADIENT_LAYERS_CAPTION = ("Per layer, the head mean of A ⊙ |∂y/∂A| for y = cosine similarity of the sentence "
                           "embedding with a second sentence: the attention weights the output actually "
                           "depends on (shared scale, not probabilities).")


def gradient_layers_figure(maps, tokens, other_text: str, similarity: float):
    """Gradient-weighted attention ``(L, Q, K)``, one panel per layer in two rows, on a shared scale."""
    n_layers, n = maps.shape[0], maps.shape[-1]
    columns = (n_layers + 1) // 2
    grid = np.zeros((2, columns, n, n))  # (2, L/2, Q, K): two rows of layers
    grid.reshape(-1, n, n)[:n_layers] = maps  # the layers in reading order
    titles = [[f"layer {r * columns + c}" if r * columns + c < n_layers else "" for c in range(columns)]
              for r in range(2)]
    return show_heatmaps(grid, titles=titles, vmin=0.0, vmax=float(maps.max()), tick_labels=n <= 16,
                         colorbar_label="mean_h A ⊙ |∂y/∂A|", xlabels=tokens, ylabels=tokens,
                         suptitle="Gradient-weighted attention per layer, "
                                  f"y = cos(embedding, '{other_text}') = {similarity:.2f}")


def gradient_comparison_figure(methods: dict, tokens):
    """Rollout and flow of attention (top) and of the gradient-weighted maps (bottom), per-row scale."""
    return show_heatmaps(np.stack([[methods["rollout"], methods["flow"]],
                                   [methods["gradient rollout"], methods["gradient flow"]]]),  # (2, 2, Q, K)
                         xlabels=tokens, ylabels=tokens,
                         titles=[["rollout of attention", "flow of attention"],
                                 ["rollout of A ⊙ |∂y/∂A|", "flow of A ⊙ |∂y/∂A|"]],
                         xlabel="input token", ylabel="position at the top layer", scale="row",
                         suptitle="Attention vs gradient-weighted capacities, rolled out and as max-flow")


# ======================================================================================= captions, titles
def spread_caption(flow_spread: float, rollout_spread: float) -> str:
    """The ``flow_vs_rollout`` caption, from the column spreads of flow and rollout (the lesson measures)."""
    verdict = ("flow is not constant down its columns: its columns vary more than rollout's"
               if flow_spread > rollout_spread else "flow's columns vary less than rollout's")
    return (f"Attention flow (max-flow from each top position to each input token) and rollout, on one "
            f"fixed 0–1 scale. Down a column, flow changes by {flow_spread:.2f} on average between its "
            f"highest and lowest row, rollout by {rollout_spread:.2f}: {verdict} — some top positions "
            f"reach input token j up to the bottleneck, others stay below it.")


def row_shape_verdict(flow_spreads: bool) -> str:
    """Which of the two maps has the flatter rows, in words."""
    return "flow spreads, rollout concentrates" if flow_spreads else "rollout spreads more than flow"


def row_shape_text(flow_entropy: float, rollout_entropy: float) -> str:
    """The ``flow_vs_rollout_rows`` caption, from the mean row entropies (fractions of ``log n``)."""
    verdict = row_shape_verdict(flow_entropy > rollout_entropy)
    return (f"The same two maps with each row divided by its maximum (a stated per-row scale). Mean row "
            f"entropy: flow {flow_entropy:.3f} of log n (1 = every input token credited equally), rollout "
            f"{rollout_entropy:.2f} of log n: {verdict}.")


def bottleneck_title(counts: dict, row: int, token: str) -> str:
    """The ``flow_bottleneck`` title: what the drawn row shows, and the all-pairs share separately."""
    return (f"Row {row} ({token}): {counts['row_at']} of {counts['row_total']} flows at the bound "
            f"(all pairs: {100 * counts['share_all']:.0f}%)")


def bottleneck_caption(counts: dict) -> str:
    """The ``flow_bottleneck`` caption, filled from the lesson's ``bound_counts``."""
    most = "Most flows" if counts["share_all"] > 0.5 else "A minority of the flows"
    return (f"One top position's flow to each input token, its rollout, and the trivial cut min(1, column "
            f"sum of the first layer's Â). {most} of the sentence ({100 * counts['share_all']:.0f}% of all "
            f"pairs) equal that cut — the reason attention flow looks so flat. Of the {counts['below']} "
            f"pairs below it, {counts['below_on_lane_cut']} sit on a cut around the lanes of the two tokens "
            f"(the residual paths down the layers); cuts through the middle layers hold back the rest.")


def long_input_bound_caption(n_tokens: int, at_bound: int) -> str:
    """The ``flow_bottleneck`` caption of a long input, where only one row of the flow is computed."""
    return (f"One top position's flow to each of the {n_tokens} input tokens (only this row was computed), "
            f"its rollout, and the trivial cut min(1, column sum of the first layer's Â): {at_bound} of the "
            f"{n_tokens} flows equal that cut.")


def gradient_caption(shares: dict, entropies: dict, special_names) -> str:
    """The ``gradient_flow_vs_rollout`` caption, filled from the special-token shares and row entropies."""
    names = "/".join(special_names)
    moved = shares["gradient rollout"] < shares["rollout"]
    verdict = (f"weighting by the gradient takes {names} from {100 * shares['rollout']:.0f}% of rollout's "
               f"row mass to {100 * shares['gradient rollout']:.0f}% "
               f"(uniform: {100 * shares['uniform']:.0f}%)"
               if moved else f"weighting by the gradient does not take credit from {names}")
    spread = entropies["gradient rollout"]
    where = ("but not onto a few content words: the gradient rollout's rows are nearly flat"
             if spread > 0.95 else "and the gradient rollout's rows are uneven")
    return (f"Top: rollout and flow of plain attention. Bottom: the same two methods on the "
            f"gradient-weighted maps A ⊙ |∂y/∂A| (each row renormalised, residual added). Per-row "
            f"scale: each row divided by its maximum. Measured: {verdict}, {where} (entropy {spread:.3f} "
            f"of log n). Flow is flat either way ({entropies['flow']:.3f} and "
            f"{entropies['gradient flow']:.3f} of log n).")


# ================================================================================================ plumbing
def column_choice(columns, n_keys: int, name: str) -> np.ndarray:
    """``(K,)`` of 0/1 (or booleans) -> booleans; none chosen is allowed (a share of 0)."""
    chosen = to_numpy(columns, name)
    if chosen.shape != (n_keys,) or not np.isin(chosen, (0, 1)).all():
        raise ValueError(f"{name}: got shape {chosen.shape} with values {np.unique(chosen)[:4]}; expected "
                         f"({n_keys},) of 0/1 (1 = a chosen key)")
    return chosen.astype(bool)


def load_encoder(args):
    """The encoder, its inputs, tokens and attention ``(L, H, Q, K)`` for ``args.text``."""
    import torch

    from attnviz.extract import transformer_attentions
    from attnviz.models import encode_texts, load_model

    loaded = load_model(args.model, kind="encoder", device=args.device)
    inputs = encode_texts(loaded.tokenizer, args.text, loaded.model).to(loaded.device)
    tokens = loaded.tokenizer.convert_ids_to_tokens(inputs["input_ids"][0].tolist())
    with torch.no_grad():
        weights = transformer_attentions(loaded.model, inputs)[:, 0]  # (L, B, H, Q, K) -> (L, H, Q, K)
    return loaded, inputs, tokens, weights.float().cpu().numpy()


def check_solver_options(tolerance, workers) -> tuple[float, int]:
    """``AttentionFlow``'s solver options, checked: ``tolerance`` in ``(0, 1e-6]``, ``workers`` a positive int
    (``None``: :func:`attnviz.parallel.default_threads`, one per usable core unless ``OMP_NUM_THREADS`` is lower)."""
    from attnviz.maxflow import check_tolerance

    tolerance = check_tolerance(tolerance)
    if workers is None:
        return tolerance, default_threads()
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers: got {workers!r}; expected a positive integer")
    return tolerance, workers


def add_flow_options(parser, default_other: str):
    """The lesson's own options on top of the shared ones: ``--other`` (second sentence) and ``--row``."""
    parser.add_argument("--other", default=default_other, help="second sentence for the similarity target "
                        f"of the gradient-weighted flow (default: {default_other!r})")
    parser.add_argument("--row", type=int, default=0,
                        help="top position whose flow is plotted as bars (default: 0, [CLS])")
    return parser


def rows_among_real(rows, keep, real) -> np.ndarray:
    """``compute_flow``'s ``rows`` (top positions of the full input, ``-1`` = the last) -> their indices among
    the real tokens ``real`` ``(q,)``; ``keep`` ``(K,)`` booleans (``None``: no padding). A padding row is
    refused."""
    from attnviz.maxflow import check_rows

    n_keys = len(real) if keep is None else keep.size
    wanted = [r % n_keys for r in check_rows(rows, n_keys, negative=True)]  # Python-style -1 = last
    if any(keep is not None and not keep[r] for r in wanted):
        raise ValueError(f"rows: {wanted} includes a padding position; pick real tokens")
    return np.searchsorted(real, wanted)  # (R,): their indices among the real tokens


def sentence_embedding(model, tokenizer, text: str):
    """The mean-pooled last hidden state of ``text`` (``(d,)``, no gradient): the other side of the lesson's
    similarity target."""
    import torch

    from attnviz.gradients import mean_pool
    from attnviz.models import encode_texts

    device = next(model.parameters()).device
    inputs = encode_texts(tokenizer, text, model).to(device)
    with torch.no_grad():
        return mean_pool(model(**inputs).last_hidden_state, inputs["attention_mask"])[0]  # (d,)
