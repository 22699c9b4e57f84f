"""Figures and captions of lesson 3.4 (``03_advanced/vit_attention.py``): patch maps drawn on the image.

- :class:`PatchAttention`: one image through a ViT — its attention and what is needed to draw it on the image;
- :func:`input_mask`: an object mask brought to the image the model saw;
- :func:`patch_attention_panels`: the lesson's main figure's panels, titled with the share they hold;
- :func:`patch_overlay_figure`: maps beside the image a ViT saw, titled with its prediction, the object
  outlined (:func:`outline_object`) — drawn with :func:`attnviz.views.overlay_figure`;
- :func:`head_verdicts`, :func:`head_grid_caption`, :func:`depth_caption`: caption sentences written from the
  shares the lesson's ``target_shares`` measures;
- :func:`first_hits_and_misses`, :func:`pointing_examples`: the pointing game's examples, chosen by a rule;
- :func:`write_pointing_csv`: the pointing-game scores as a table.

The measurements are the lesson's; these only draw and word them. This module sits below the lessons and
never imports one: the lesson's results come in as arguments.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from attnviz.kinds import resize_masks
from attnviz.validate import check_attention
from attnviz.views import overlay_figure, pointing_examples_figure

OVERLAY_CMAP = "inferno"  # perceptually uniform; dark = little attention, so the image shows through
OVERLAY_ALPHA = 1.0  # opaque: a blend over the image makes colours the colour bar does not show
OUTLINE_COLOUR = "cyan"  # the object's outline over a map: a colour inferno never uses
PATCH_ATTENTION_CAPTION = ("The [CLS] token's attention to each patch, beside the image — one head, the mean of "
                           "the layer's heads, and the rollout of all layers; each title gives the share of "
                           "[CLS]'s attention that the map holds.")


# --------------------------------------------------------------------------------- the image and its attention
@dataclass
class PatchAttention:
    """One image through a ViT: every attention weight and what is needed to put it back on the image."""

    attention: np.ndarray  # (L, H, N, N), N = n_prefix + grid[0] * grid[1]
    image: np.ndarray  # (S, S, 3) floats in [0, 1]: the image exactly as the model saw it
    grid: tuple[int, int]  # (g_h, g_w) patches
    patch_size: int
    n_prefix: int  # special tokens in front of the patches ([CLS], maybe a distillation token)
    logits: np.ndarray | None = None  # (num_labels,) for a classifier
    special_tokens: tuple[str, ...] = ("[CLS]",)  # the n_prefix tokens' names, [CLS] first

    def __post_init__(self):
        """Checked on construction: softmax attention, and as many tokens as special tokens + patches."""
        self.attention = check_attention(self.attention, "LHQK", name="attention", square=True)
        g_h, g_w = self.grid
        if self.attention.shape[-1] != self.n_prefix + g_h * g_w:
            raise ValueError(f"attention: {self.attention.shape[-1]} tokens do not match {self.n_prefix} "
                             f"special token(s) + a {g_h} × {g_w} patch grid = {self.n_prefix + g_h * g_w}")

    def token_note(self) -> str:
        """Which row is drawn and which tokens are not on the patch grid, for a figure's title."""
        others = ", ".join(self.special_tokens[1:])
        return "row drawn: [CLS]" + (f"; not on the patch grid: {others}" if others else "")

    @property
    def predicted(self) -> int | None:
        """The predicted class (the largest logit), or ``None`` for a model without a classifier."""
        return None if self.logits is None else int(np.argmax(self.logits))


def input_mask(object_mask, size: int, processor=None):
    """``object_mask`` (a pixel mask of any square size) brought to the ``size × size`` image the model saw
    (``(S, S)`` bool, as :func:`attnviz.kinds.resize_masks` brings the images), or ``None``."""
    if object_mask is None:
        return None
    return resize_masks(np.asarray(object_mask)[None], size, processor)[0]


# --------------------------------------------------------------------------------- drawing
def outline_object(ax, object_mask) -> None:
    """Draw the outline of a pixel mask ``(S, S)`` on ``ax``, in image coordinates (pixel centres at +0.5)."""
    centres = np.arange(object_mask.shape[0]) + 0.5
    ax.contour(centres, centres, np.asarray(object_mask, dtype=float), levels=[0.5], colors=OUTLINE_COLOUR,
               linewidths=1.2)


def scale_label(panel_title: str) -> str:
    """The colour bar's label of a panel: a rollout share or a ``[CLS]`` → patch weight."""
    return "rollout share" if panel_title.startswith("rollout") else "CLS → patch weight"


def patch_attention_panels(maps, rolled, layer: int, head: int, n_layers: int) -> list:
    """The panels of the lesson's main figure: head ``head`` of ``maps`` ``(H, g_h, g_w)`` (layer ``layer``),
    the mean of its heads and the rollout ``rolled`` ``(g_h, g_w)``, each titled with the share of the row it
    holds (the rest stayed on the special tokens). Returns ``[(map (g_h, g_w), title)]``."""
    on_patches = "of [CLS]'s attention on patches"
    mean = maps.mean(0)  # (H, g_h, g_w) -> (g_h, g_w)
    return [(maps[head], f"layer {layer}, head {head}\n{100 * maps[head].sum():.0f}% {on_patches}"),
            (mean, f"layer {layer}, mean of {len(maps)} heads\n{100 * mean.sum():.0f}% {on_patches}"),
            (rolled, f"rollout of {n_layers} layers\n{100 * rolled.sum():.0f}% of the rollout row on patches")]


def patch_overlay_figure(result, panels, *, cmap: str = OVERLAY_CMAP, shared_scale: bool = False,
                         show_image: bool = True, class_names=None, suptitle: str | None = None,
                         object_mask=None):
    """``panels`` (``(map (g_h, g_w), title)`` each) beside the image, titled with the prediction;
    ``object_mask`` ``(S, S)`` outlined on the image and on every map.

    ``result`` is the lesson's ``PatchAttention`` (read here: ``image``, ``grid``, ``patch_size``, ``logits``,
    ``predicted`` and ``token_note()``)."""
    label = ""
    if class_names is not None and result.logits is not None and len(class_names) != len(result.logits):
        raise ValueError(f"class_names: got {len(class_names)} names for a model with "
                         f"{len(result.logits)} classes; expected one name per class")
    if result.predicted is not None:
        name = class_names[result.predicted] if class_names else f"class {result.predicted}"
        label = f" — predicted: {name}"
    outline = "" if object_mask is None else f"; object outlined in {OUTLINE_COLOUR}"
    title = (suptitle or "Where the [CLS] token looks (weights on patches; colour scale 0 to each "
             "map's maximum)") + label + f"\n{result.token_note()}{outline}"
    fig = overlay_figure(result.image, panels, grid=result.grid, patch_size=result.patch_size,
                         cmap=cmap, alpha=OVERLAY_ALPHA, shared_scale=shared_scale,
                         show_image=show_image, title=title, scale_label=scale_label)
    if object_mask is not None:
        for ax in fig.axes:
            if ax.images:  # the image and every map (colour bars hold no image)
                outline_object(ax, object_mask)
    return fig


# --------------------------------------------------------------------------------- captions
def head_verdicts(shares: dict) -> list[str]:
    """One phrase per map from the lesson's ``target_shares``, decided by the numbers: ``"off the object"``
    when its share on the object is under twice a flat map's, ``"on the object's edges"`` when each edge
    patch gets more than each inside patch, else ``"on the object"``."""
    verdicts = []
    for target, edge, inside in zip(shares["target"], shares["edge_per_patch"], shares["inside_per_patch"]):
        if target < 2 * shares["chance"]:
            verdicts.append("off the object")
        elif shares["n_inside"] and edge > inside:
            verdicts.append("on the object's edges")
        else:
            verdicts.append("on the object")
    return verdicts


def head_grid_caption(layer: int, shares: dict | None) -> str:
    """The head grid's caption, every number from the lesson's ``target_shares`` of the layer's heads."""
    text = f"Every head of layer {layer} on one shared scale, beside the image"
    if shares is None:
        return text + " (no object mask for this image: where the heads look is not measured)."
    percent = lambda values: ", ".join(f"head {h} {100 * v:.0f}%" for h, v in enumerate(values))  # noqa: E731
    n_target = shares["n_edge"] + shares["n_inside"]
    text += (f", the object outlined. Share of each head's patch weight on the {n_target} patches the object "
             f"touches ({100 * shares['chance']:.0f}% of the patches: what a flat map puts there): "
             f"{percent(shares['target'])}. Per patch, each of the {shares['n_edge']} edge patches (partly "
             f"object) gets {percent(shares['edge_per_patch'])}")
    if shares["n_inside"]:
        inside = "the 1 patch" if shares["n_inside"] == 1 else f"each of the {shares['n_inside']} patches"
        text += f"; {inside} wholly inside gets {percent(shares['inside_per_patch'])}"
        if shares["n_inside"] < 3:
            text += " (so few inside patches make edge-versus-inside one image's hint, not a rule)"
    groups: dict[str, list[int]] = {}
    for head, verdict in enumerate(head_verdicts(shares)):
        groups.setdefault(verdict, []).append(head)
    said = "; ".join(f"head{'s' if len(heads) > 1 else ''} {', '.join(map(str, heads))}: {verdict}"
                     for verdict, heads in groups.items())
    worst = int(np.argmin(shares["target"]))
    return text + (f". So — {said}; the most weight off the object is head {worst}'s, "
                   f"{100 * (1 - shares['target'][worst]):.0f}%.")


def depth_caption(names: list[str], shares: dict | None) -> str:
    """The by-layer figure's caption: each map's share on the object (from the lesson's ``target_shares``)."""
    text = "How the [CLS] map changes with depth; each panel on its own 0-to-max scale"
    if shares is None:
        return text + "."
    listed = ", ".join(f"{name} {100 * share:.0f}%" for name, share in zip(names, shares["target"]))
    return text + (f". Share of each map on the patches the object touches (a flat map: "
                   f"{100 * shares['chance']:.0f}%): {listed}.")


# --------------------------------------------------------------------------------- the pointing game
def first_hits_and_misses(hits, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the first ``k`` hits and the first ``k`` misses, in data-set order: examples chosen by a
    rule stated in advance, not by how good they look."""
    hits = np.asarray(hits)
    if hits.ndim != 1 or hits.dtype != bool:
        raise ValueError(f"hits: expected a 1-d bool array, got shape {hits.shape} and dtype {hits.dtype}")
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise ValueError(f"k: expected a positive integer, got {k!r}")
    return np.flatnonzero(hits)[:k], np.flatnonzero(~hits)[:k]


def pointing_examples(data, game: dict, class_names, k: int = 4):
    """The pointing-game examples figure and its caption: the first ``k`` hits and the first ``k`` misses of
    the rollout, in test-set order, each titled with its test-set index, its class and the prediction."""
    from attnviz.training.shapes import CLASSES

    hits = np.asarray(game["hits"]["rollout"])
    shown_hits, shown_misses = first_hits_and_misses(hits, k)
    show = np.concatenate([shown_hits, shown_misses])  # hits first, then misses
    logits = game["logits"]
    predicted = ["" if logits is None else f"\n(predicted {class_names[int(logits[i].argmax())]})"
                 for i in show]
    titles = [f"#{i}: {CLASSES[data.labels[i]]}{p}" for i, p in zip(show, predicted)]
    fig = pointing_examples_figure(data.images[show], data.masks[show], game["rollout_maps"][show],
                                   hits[show], titles, cmap=OVERLAY_CMAP, alpha=OVERLAY_ALPHA)
    for ax, i in zip(fig.axes[len(show):], show):  # the bottom row: the maps; outline the object there too
        outline_object(ax, data.masks[i])
    n_miss = int((~hits).sum())
    if n_miss == 0:
        misses = "no misses (there are none to show)"
    elif n_miss <= k:
        misses = f"all {n_miss} of its misses"
    else:
        misses = f"the first {len(shown_misses)} of its {n_miss} misses"
    caption = (f"The rollout's first {len(shown_hits)} hits and {misses} among {len(hits)} test images, in "
               f"test-set order (chosen by that rule, not by looks): the target outlined, the rollout beside "
               "it with its strongest patch boxed; hit when the box touches the target.")
    return fig, caption


def write_pointing_csv(path, rows, chance: float, n_images: int) -> None:
    """The pointing-game scores as a CSV: one ``(method, hit rate, hit rate with random weights)`` row each,
    with the chance level and the number of images."""
    with open(path, "w", encoding="utf-8") as f:
        f.write("method,hit_rate,hit_rate_random_weights,chance,images\n")
        for name, rate, other in rows:
            f.write(f'"{name}",{rate:.4f},{other:.4f},{chance:.4f},{n_images}\n')
