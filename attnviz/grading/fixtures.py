"""Inputs shared by exercise cases: loaded once per process, deterministic, offline."""

from __future__ import annotations

from functools import cache

import numpy as np


@cache
def minilm():
    """The offline pre-trained encoder (all-MiniLM-L6-v2) and its tokenizer, eager attention, CPU."""
    from attnviz.models import load_model

    loaded = load_model(None, kind="encoder", device="cpu")
    return loaded.model, loaded.tokenizer


@cache
def minilm_attention(text: str) -> tuple[np.ndarray, tuple[str, ...]]:
    """Reference-free inputs for later exercises: MiniLM weights ``(L, H, Q, K)`` and tokens of ``text``."""
    import torch

    from attnviz.extract import transformer_attentions

    model, tokenizer = minilm()
    inputs = tokenizer(text, return_tensors="pt")
    with torch.no_grad():
        attention = transformer_attentions(model, inputs)[:, 0]  # (L, H, Q, K)
    tokens = tuple(tokenizer.convert_ids_to_tokens(inputs["input_ids"][0].tolist()))
    return attention.numpy().astype(np.float64), tokens


def random_attention(seed: int, shape: tuple[int, ...], sharpness: float = 2.0) -> np.ndarray:
    """Random row-stochastic attention of any shape ``(..., Q, K)``: softmax of Gaussian scores."""
    rng = np.random.default_rng(seed)
    scores = rng.normal(size=shape) * sharpness
    scores -= scores.max(-1, keepdims=True)
    weights = np.exp(scores)
    return weights / weights.sum(-1, keepdims=True)


def capture_heatmap(fig, panel: int = 0) -> dict:
    """What a test compares of a heatmap figure instead of its pixels: the image data, the tick
    labels, the colour limits and map. Closes the figure."""
    import matplotlib.pyplot as plt

    from attnviz.plotting import describe_figure

    if not hasattr(fig, "axes"):
        raise TypeError(f"expected a matplotlib Figure, got {type(fig).__name__}")
    panels = describe_figure(fig)["panels"]
    plt.close(fig)
    if len(panels) <= panel:
        raise ValueError(f"the figure has {len(panels)} heatmap panels (drawn with imshow); expected at least {panel + 1}")
    p = panels[panel]
    return {"data": p["data"], "xticklabels": p["xticklabels"], "yticklabels": p["yticklabels"],
            "clim": np.asarray(p["clim"]), "cmap": p["cmap"]}


@cache
def minilm_batch(texts: tuple[str, ...]):
    """MiniLM on a padded batch: weights ``(L, B, H, T, T)``, attention mask ``(B, T)``, tokens per text."""
    import torch

    from attnviz.extract import transformer_attentions

    model, tokenizer = minilm()
    inputs = tokenizer(list(texts), return_tensors="pt", padding=True)
    with torch.no_grad():
        attention = transformer_attentions(model, inputs)  # (L, B, H, T, T)
    tokens = [tokenizer.convert_ids_to_tokens(ids) for ids in inputs["input_ids"].tolist()]
    return attention.numpy().astype(np.float64), inputs["attention_mask"].numpy(), tokens


def all_panels(fig) -> dict:
    """``capture_heatmap`` for every image panel of a figure: ``{"panel0/data": ..., ...}`` plus a count."""
    import matplotlib.pyplot as plt

    from attnviz.plotting import describe_figure

    if not hasattr(fig, "axes"):
        raise TypeError(f"expected a matplotlib Figure, got {type(fig).__name__}")
    panels = describe_figure(fig)["panels"]
    plt.close(fig)
    out = {"n_panels": len(panels)}
    for k, p in enumerate(panels):
        out[f"panel{k}"] = {"data": p["data"], "xticklabels": p["xticklabels"], "yticklabels": p["yticklabels"],
                            "clim": np.asarray(p["clim"]), "title": p["title"], "cmap": p["cmap"]}
    return out


def error_outcome(call, word: str) -> str:
    """What a bad-input call did, as a comparable string: ``"ValueError naming <word>"`` when it raised a
    ``ValueError`` whose message contains ``word`` (the argument's name), else ``"ValueError"``, the name of
    another exception, or ``"no error"``."""
    try:
        call()
    except ValueError as err:
        return f"ValueError naming {word}" if word in str(err) else "ValueError"
    except Exception as err:  # noqa: BLE001 - any other exception is the answer being graded
        return type(err).__name__
    return "no error"


# ------------------------------------------------------------------- later functions on earlier answers
def array_key(*values) -> tuple:
    """A hashable key for arrays and plain values (shape, float64 content), for :func:`reference_lookup`."""
    key = []
    for value in values:
        if value is None or isinstance(value, str | int | float | bool):
            key.append(value)
        else:
            arr = np.asarray(value, dtype=np.float64)
            key.append((arr.shape, arr.tobytes()))
    return tuple(key)


def reference_lookup(table: dict, own):
    """A stand-in for a student's earlier function: answers from ``table`` (``array_key(*args)`` -> the
    reference's result) and calls the student's own function ``own`` for any input not in the table."""
    def call(*args, **kwargs):
        key = array_key(*args, *kwargs.values())
        if key in table:
            value = table[key]
            return value.copy() if isinstance(value, np.ndarray) else value
        return own(*args, **kwargs)
    return call


class reference_functions:
    """``with reference_functions(module, name=stand_in, ...):`` replaces the module's functions for the
    duration, so a later function that calls an earlier one is checked on the reference's earlier results:
    one mistake costs only its own points."""

    def __init__(self, module, **replacements):
        self.module, self.replacements = module, replacements
        self.saved: dict = {}

    def __enter__(self):
        for name, function in self.replacements.items():
            self.saved[name] = getattr(self.module, name, None)
            setattr(self.module, name, function)
        return self

    def __exit__(self, *exc):
        for name, function in self.saved.items():
            setattr(self.module, name, function)
        return False
