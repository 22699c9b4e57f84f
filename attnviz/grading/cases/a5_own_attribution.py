"""Cases of exercise A5 — your own attribution method (open-ended, graded on properties).

The fixed set is the six MiniLM sentence pairs of ``03_advanced/attention_faithfulness.py``; the yardstick
is leave-one-out and the bar is raw attention's score on the same set, both computed by the lesson's code
when the references are recorded (``Case.yardstick``), never in the student's process. The student's
worker returns only the attributions; the grader, outside the jail, ranks them against leave-one-out.
"""

from functools import cache

import numpy as np

from attnviz.grading.core import Case, Exercise
from attnviz.grading.fixtures import minilm

RANDOMISED_MAX_RHO = 0.8
#: How far above raw attention's faithfulness an answer must be: scores are means over six examples, and a
#: method within this margin of the bar is not measurably better than raw attention.
MARGIN = 0.05
#: An answer that blanks at least this share of the content tokens one at a time is leave-one-out.
OCCLUSION_SHARE = 0.5


@cache
def _examples():
    from advanced.attention_faithfulness import minilm_examples

    model, tokenizer = minilm()
    return tuple(minilm_examples(model, tokenizer))


@cache
def _randomised_model():
    from advanced.attention_faithfulness import layer_stack, randomise_top_down

    model, _ = minilm()
    return randomise_top_down(model, len(layer_stack(model)), seed=0)


@cache
def _raw_attention_score() -> float:
    from advanced.attention_faithfulness import method_rows, score_attribution

    model, _ = minilm()
    return score_attribution(model, lambda m, e: method_rows(m, e, methods=["raw attention"])["raw attention"][-1],
                             _examples())


_TRAINED: dict = {}


def _attributions(mod, model, watch: bool = False) -> dict:
    """``{"example_i": (T,)}`` for every example; with ``watch``, also the share of content tokens the
    method blanked one at a time (:class:`_OcclusionWatch`)."""
    import torch

    out, shares = {}, []
    for i, example in enumerate(_examples()):
        watcher = _OcclusionWatch(model, example) if watch else None
        try:
            with torch.enable_grad():
                values = mod.attribute(model, example)
        finally:
            if watcher is not None:
                watcher.close()
        if hasattr(values, "detach"):
            values = values.detach().cpu().numpy()
        out[f"example_{i}"] = np.asarray(values, dtype=float)
        if watcher is not None:
            shares.append(watcher.share(example.content))
    if watch:
        out["occluded_share"] = float(max(shares, default=0.0))
    return out


def _trained(mod) -> dict:
    """The student's attributions on the trained model, computed once per worker (three cases read them)."""
    if id(mod) not in _TRAINED:
        model, _ = minilm()
        _TRAINED[id(mod)] = _attributions(mod, model, watch=True)
    return _TRAINED[id(mod)]


@cache
def _yardstick() -> dict:
    """Recorded with the references only: leave-one-out and the content tokens of every example, and raw
    attention's faithfulness score."""
    from advanced.attention_faithfulness import leave_one_out

    model, _ = minilm()
    out = {"raw_attention": _raw_attention_score()}
    for i, example in enumerate(_examples()):
        out[f"loo_{i}"] = np.asarray(leave_one_out(model, example), dtype=float)
        out[f"content_{i}"] = np.asarray(example.content, dtype=float)
    return out


def _spearman(a, b) -> float:
    """Spearman's rank correlation (NaN when either side is constant), as the lesson computes it."""
    from scipy.stats import spearmanr

    a, b = np.asarray(a, dtype=float).ravel(), np.asarray(b, dtype=float).ravel()
    if a.size < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    return float(spearmanr(a, b)[0])


def _examples_of(expected: dict) -> int:
    return sum(1 for key in expected if key.startswith("loo_"))


def _run_shapes(mod):
    return {k: v for k, v in _trained(mod).items() if k.startswith("example_")}


def _shapes_ok(actual: dict, expected: dict):
    for i in range(_examples_of(expected)):
        values = np.asarray(actual.get(f"example_{i}"))
        want = np.asarray(expected[f"loo_{i}"]).shape
        if values.shape != want:
            return (f"example {i}: shape {values.shape}, expected {want} (one value per token). Return a numpy "
                    "array with one finite value per input token (T,), special tokens included")
        if not np.isfinite(values).all():
            return f"example {i}: contains NaN or Inf. Return one finite value per token"
    return None


def _run_randomised(mod):
    return {**{f"trained_{k}": v for k, v in _run_shapes(mod).items()},
            **{f"randomised_{k}": v for k, v in _attributions(mod, _randomised_model()).items()}}


def _randomisation_rho(actual: dict, expected: dict) -> float:
    rhos = []
    for i in range(_examples_of(expected)):
        content = np.asarray(expected[f"content_{i}"]).astype(bool)
        trained = np.asarray(actual.get(f"trained_example_{i}"), dtype=float)
        randomised = np.asarray(actual.get(f"randomised_example_{i}"), dtype=float)
        if trained.shape != content.shape or randomised.shape != content.shape:
            return float("nan")
        rho = _spearman(trained[content], randomised[content])
        rhos.append(1.0 if np.isnan(rho) else rho)  # a constant map did not change: as bad as ρ = 1
    return float(np.mean(rhos))


def _changes(actual: dict, expected: dict):
    rho = _randomisation_rho(actual, expected)
    if not np.isfinite(rho):
        return "your attributions do not have one value per token on both models"
    if rho >= RANDOMISED_MAX_RHO:
        return (f"your map hardly changes when every block of the model is re-initialised (Spearman ρ = {rho:.2f} "
                f"with the trained model's map; must be below {RANDOMISED_MAX_RHO}). A map that survives random "
                "weights explains the input, not the model: use the model's gradients or its weights (attention "
                "alone is not enough after the residual is added)")
    return None


def _run_faithfulness(mod):
    return _trained(mod)


def _faithfulness(actual: dict, expected: dict) -> float:
    scores = []
    for i in range(_examples_of(expected)):
        content = np.asarray(expected[f"content_{i}"]).astype(bool)
        values = np.asarray(actual.get(f"example_{i}"), dtype=float)
        if values.shape != content.shape:
            return float("nan")
        scores.append(_spearman(values[content], np.asarray(expected[f"loo_{i}"])[content]))
    return float(np.nanmean(scores)) if scores and not np.all(np.isnan(scores)) else float("nan")


class _OcclusionWatch:
    """Watches the model's forward calls during a student's ``attribute``: which single tokens of the
    example were blanked (a changed id, a zeroed attention mask, a changed embedding row) on their own.
    Leave-one-out is the yardstick, so a method that does it is scored as what it is."""

    def __init__(self, model, example):
        import torch

        self.ids = example.input_ids[0]  # (T,)
        with torch.no_grad():
            self.embeddings = model.get_input_embeddings()(example.input_ids)[0]  # (T, D)
        self.blanked: set[int] = set()
        self.handle = model.register_forward_pre_hook(self._hook, with_kwargs=True)

    def _hook(self, module, args, kwargs):
        import torch

        with torch.no_grad():
            n = self.ids.shape[0]
            ids, mask, embeds = kwargs.get("input_ids"), kwargs.get("attention_mask"), kwargs.get("inputs_embeds")
            if ids is None and args and torch.is_tensor(args[0]) and not args[0].is_floating_point():
                ids = args[0]
            rows = next((t.shape[0] for t in (ids, embeds) if t is not None and t.dim() >= 2), 0)
            for b in range(rows):
                changed = torch.zeros(n, dtype=torch.bool)
                if ids is not None and ids.shape[-1] == n:
                    changed |= ids[b].cpu() != self.ids
                if mask is not None and mask.dim() == 2 and mask.shape[-1] == n:
                    changed |= mask[b].cpu() == 0
                if embeds is not None and embeds.dim() == 3 and embeds.shape[1] == n:
                    changed |= (embeds[b].detach().cpu() - self.embeddings).abs().amax(-1) > 1e-6 * (
                        1 + self.embeddings.abs().amax(-1))
                if int(changed.sum()) == 1:
                    self.blanked.add(int(changed.nonzero()[0, 0]))

    def share(self, content) -> float:
        positions = [int(i) for i in np.flatnonzero(np.asarray(content))]
        return len(self.blanked & set(positions)) / max(1, len(positions))

    def close(self):
        self.handle.remove()


def _beats_raw(actual: dict, expected: dict):
    score, raw = _faithfulness(actual, expected), float(expected["raw_attention"])
    if not np.isfinite(score):
        return "score: your attribution has no finite faithfulness score (one value per token, not constant)"
    if score < raw + MARGIN:
        return (f"faithfulness {score:.3f} does not beat raw attention's {raw:.3f} by the margin of {MARGIN} "
                f"(at least {raw + MARGIN:.3f} needed; mean Spearman ρ with leave-one-out over the content tokens). "
                "Weight the attention by what the output depends on (gradients), or attribute through the "
                "embeddings; mean pooling reads every row")
    return None


def _not_loo(actual: dict, expected: dict):
    share = float(actual.get("occluded_share", 0.0))
    if share >= OCCLUSION_SHARE:
        return (f"your method blanks the tokens one at a time ({share:.0%} of the content tokens of one example): "
                "that is leave-one-out, the yardstick itself, whatever is added to it — it earns no faithfulness "
                "points")
    score = _faithfulness(actual, expected)
    if np.isfinite(score) and score > 0.99:
        return (f"your ranking equals leave-one-out's (ρ = {score:.3f}): occlusion is the yardstick here, design "
                "a method that does not blank tokens one by one")
    return None


def _faithfulness_report(actual: dict, expected: dict) -> str:
    raw = float(expected["raw_attention"])
    return (f"faithfulness {_faithfulness(actual, expected):.3f} (mean Spearman ρ with leave-one-out) against raw "
            f"attention's {raw:.3f}; the bar is {raw + MARGIN:.3f}")


def _randomisation_report(actual: dict, expected: dict) -> str:
    return (f"Spearman ρ between the trained and the randomised model's maps: "
            f"{_randomisation_rho(actual, expected):.2f} (must be below {RANDOMISED_MAX_RHO})")


EXERCISE = Exercise(
    id="a5_own_attribution",
    path="03_advanced/a5_own_attribution.py",
    title="A5 — Your own attribution method",
    cases=[
        Case("shape_and_values", _run_shapes, points=2, checks=[_shapes_ok], yardstick=_yardstick),
        Case("changes_under_randomisation", _run_randomised, points=3, checks=[_changes], yardstick=_yardstick,
             report=_randomisation_report),
        Case("beats_raw_attention", _run_faithfulness, points=5, checks=[_beats_raw, _not_loo],
             yardstick=_yardstick, report=_faithfulness_report),
    ],
)
