"""Cases of exercise A5 — your own attribution method (open-ended, graded on properties).

The fixed set is the six MiniLM sentence pairs of ``03_advanced/attention_faithfulness.py``; the yardstick
is leave-one-out and the bar is raw attention's score on the same set, both computed here by the lesson's
code, never by the submission.
"""

from functools import cache

import numpy as np

from attnviz.grading.core import Case, Exercise, Property
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


def _attributions(mod, model):
    import torch

    out = {}
    for i, example in enumerate(_examples()):
        with torch.enable_grad():
            values = mod.attribute(model, example)
        if hasattr(values, "detach"):
            values = values.detach().cpu().numpy()
        out[f"example_{i}"] = np.asarray(values, dtype=float)
    return out


def _run_shapes(mod):
    model, _ = minilm()
    return _attributions(mod, model)


def _shapes_ok(out):
    for i, example in enumerate(_examples()):
        values = np.asarray(out.get(f"example_{i}"))
        want = (example.input_ids.shape[1],)
        if values.shape != want:
            return f"example {i}: shape {values.shape}, expected {want} (one value per token)"
        if not np.isfinite(values).all():
            return f"example {i}: contains NaN or Inf"
    return None


def _run_randomised(mod):
    from advanced.integrated_attention import spearman

    model, _ = minilm()
    trained = _attributions(mod, model)
    randomised = _attributions(mod, _randomised_model())
    rhos = []
    for i, example in enumerate(_examples()):
        rho = spearman(np.asarray(trained[f"example_{i}"])[example.content],
                       np.asarray(randomised[f"example_{i}"])[example.content])
        rhos.append(1.0 if np.isnan(rho) else rho)  # a constant map did not change: as bad as ρ = 1
    return {"rho_trained_vs_randomised": float(np.mean(rhos))}


def _changes(out):
    rho = out.get("rho_trained_vs_randomised")
    if rho is None or not np.isfinite(rho):
        return "rho_trained_vs_randomised: missing"
    if rho >= RANDOMISED_MAX_RHO:
        return (f"your map hardly changes when every block of the model is re-initialised (Spearman ρ = {rho:.2f} "
                f"with the trained model's map; must be below {RANDOMISED_MAX_RHO})")
    return None


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


def _run_faithfulness(mod):
    from advanced.attention_faithfulness import score_attribution

    model, _ = minilm()
    import torch

    shares = []

    def attribute(m, example):
        watch = _OcclusionWatch(m, example)
        try:
            with torch.enable_grad():
                values = mod.attribute(m, example)
        finally:
            watch.close()
        shares.append(watch.share(example.content))
        return values.detach().cpu().numpy() if hasattr(values, "detach") else values

    score = score_attribution(model, attribute, _examples())
    return {"score": score, "raw_attention": _raw_attention_score(), "occluded_share": float(max(shares, default=0))}


def _beats_raw(out):
    score, raw = out.get("score"), out.get("raw_attention")
    if score is None or not np.isfinite(score):
        return "score: your attribution has no finite faithfulness score"
    if score < raw + MARGIN:
        return (f"faithfulness {score:.3f} does not beat raw attention's {raw:.3f} by the margin of {MARGIN} "
                f"(at least {raw + MARGIN:.3f} needed; mean Spearman ρ with leave-one-out over the content tokens)")
    return None


def _not_loo(out):
    share = out.get("occluded_share", 0.0)
    if share >= OCCLUSION_SHARE:
        return (f"your method blanks the tokens one at a time ({share:.0%} of the content tokens of one example): "
                "that is leave-one-out, the yardstick itself, whatever is added to it — it earns no faithfulness "
                "points")
    score = out.get("score")
    if score is not None and score > 0.99:
        return (f"your ranking equals leave-one-out's (ρ = {score:.3f}): occlusion is the yardstick here, design "
                "a method that does not blank tokens one by one")
    return None


def _faithfulness_report(out) -> str:
    return (f"faithfulness {out['score']:.3f} (mean Spearman ρ with leave-one-out) against raw attention's "
            f"{out['raw_attention']:.3f}; the bar is {out['raw_attention'] + MARGIN:.3f}")


def _randomisation_report(out) -> str:
    return (f"Spearman ρ between the trained and the randomised model's maps: {out['rho_trained_vs_randomised']:.2f} "
            f"(must be below {RANDOMISED_MAX_RHO})")


EXERCISE = Exercise(
    id="a5_own_attribution",
    path="03_advanced/a5_own_attribution.py",
    title="A5 — Your own attribution method",
    cases=[
        Case("shape_and_values", _run_shapes, points=2,
             checks=[Property(_shapes_ok, "Return a numpy array with one finite value per input token (T,), "
                              "for the whole sequence — special tokens included.")]),
        Case("changes_under_randomisation", _run_randomised, points=3, report=_randomisation_report,
             checks=[Property(_changes, "A map that survives random weights explains the input, not the model: "
                              "use the model's gradients or its weights (attention alone is not enough after "
                              "the residual is added).")]),
        Case("beats_raw_attention", _run_faithfulness, points=5, report=_faithfulness_report,
             checks=[Property(_beats_raw, "Weight the attention by what the output depends on (gradients), or "
                              "attribute through the embeddings; mean pooling reads every row."),
                     Property(_not_loo, "Leave-one-out is what you are scored against.")]),
    ],
)
