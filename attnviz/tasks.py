"""The shipped models' tasks as batches and losses: the tiny GPT-2's repeated sequences, the tiny ViT's shapes.

Head importance and pruning (``03_advanced/attention_entropy.py``) score and evaluate heads on held-out data
of the task each model was trained on; these helpers build that data with the generators training used
(:mod:`attnviz.training.repeats`, :mod:`attnviz.training.shapes`) and the per-example losses.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

LossFn = Callable[[torch.nn.Module, dict], torch.Tensor]  # loss_fn(model, batch) -> (B,), one loss per example


def examples_in(batch: dict) -> int:
    """The number of examples in a batch (the first axis of its first tensor)."""
    first = next(v for v in batch.values() if isinstance(v, torch.Tensor))
    return int(first.shape[0])


def device_of(batch: dict) -> torch.device:
    """The device of a batch's tensors."""
    return next(v for v in batch.values() if isinstance(v, torch.Tensor)).device


def to_device(batches: list[dict], device) -> list[dict]:
    """Every tensor of every batch moved to ``device`` (the model's)."""
    return [{k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in b.items()} for b in batches]


def gpt2_batches(n_sequences: int = 64, half: int | None = None, batch_size: int = 32, seed: int = 1000) -> list[dict]:
    """Held-out repeated random sequences for the tiny GPT-2: ``<bos>``, ``half`` random tokens, the same again.

    The generator is the one the model was trained with (:mod:`attnviz.training.repeats`), with a seed that
    training did not use; ``half`` defaults to the model card's evaluation length.
    """
    from attnviz.training.repeats import EVAL_HALF, repeated_sequences

    ids = repeated_sequences(n_sequences, half or EVAL_HALF, np.random.default_rng(seed))  # (N, 1 + 2·half)
    return [{"input_ids": ids[start:start + batch_size]} for start in range(0, n_sequences, batch_size)]


def gpt2_loss(model, batch: dict) -> torch.Tensor:
    """Per-example next-token loss over the predictable tokens, positions ``h + 2 … 2h``: ``(B,)``.

    (The first token of the repeat cannot be predicted — nothing says the sequence is about to repeat —
    so, as in the model card, it is left out.)
    """
    ids = batch["input_ids"]  # (B, 1 + 2h)
    logits = model(input_ids=ids).logits  # (B, T, V)
    nll = torch.nn.functional.cross_entropy(logits[:, :-1].transpose(1, 2), ids[:, 1:], reduction="none")  # (B, T-1)
    half = (ids.shape[1] - 1) // 2
    return nll[:, half + 1:].mean(-1)  # nll[:, j] is the loss of token j + 1: tokens h+2 … 2h


def vit_batches(processor, n_images: int | None = None, batch_size: int = 100, seed: int | None = None) -> list[dict]:
    """Labelled images of the tiny ViT's shapes task: the shipped test set (default), or ``n_images`` fresh
    ones drawn with ``seed`` from the generator the model was trained on."""
    from attnviz.training.shapes import load_test_set, make_images

    data = load_test_set()[1] if n_images is None else make_images(n_images, seed)
    batches = []
    for start in range(0, len(data.labels), batch_size):
        pixels = processor(images=list(data.images[start:start + batch_size]), return_tensors="pt")["pixel_values"]
        batches.append({"pixel_values": pixels, "labels": torch.as_tensor(data.labels[start:start + batch_size])})
    return batches


def vit_loss(model, batch: dict) -> torch.Tensor:
    logits = model(pixel_values=batch["pixel_values"]).logits  # (B, classes)
    return torch.nn.functional.cross_entropy(logits, batch["labels"], reduction="none")  # (B,)


def vit_accuracy(batches: list[dict]) -> Callable[[torch.nn.Module], float]:
    def evaluate(model) -> float:
        correct = sum(int((model(pixel_values=b["pixel_values"]).logits.argmax(-1) == b["labels"]).sum())
                      for b in batches)
        return correct / sum(len(b["labels"]) for b in batches)
    return evaluate


def mean_loss(batches: list[dict], loss_fn: LossFn) -> Callable[[torch.nn.Module], float]:
    def evaluate(model) -> float:
        total = sum(float(loss_fn(model, b).sum()) for b in batches)
        return total / sum(examples_in(b) for b in batches)
    return evaluate


def knows_the_shapes_task(model) -> bool:
    """Whether an image classifier's labels are the shapes task's classes, in order (the course's tiny ViT).
    Any other model's head answers a different question, and the shapes labels mean nothing to it."""
    from attnviz.training.shapes import CLASSES

    id2label = getattr(model.config, "id2label", None) or {}
    labels = [str(id2label.get(i, id2label.get(str(i), ""))).lower() for i in range(len(id2label))]
    return labels == list(CLASSES)


def with_own_predictions(model, batches: list[dict]) -> list[dict]:
    """The batches with their ``labels`` replaced by the unpruned ``model``'s own predictions.

    A task-agnostic target for a model that was not trained on the shapes: its loss is the cross-entropy
    against what it answers with every head on, and its "accuracy" after pruning is the agreement with those
    answers (1.0 for the intact model by construction).
    """
    relabelled = []
    with torch.no_grad():
        for batch in batches:
            predicted = model(pixel_values=batch["pixel_values"]).logits.argmax(-1)  # (B,)
            relabelled.append({**batch, "labels": predicted})
    return relabelled
