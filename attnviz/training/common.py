"""What the four training scripts share: seeding, the learning-rate schedule, sizes, the model card.

Deterministic training on a CPU needs three things: every random source seeded (Python, NumPy, torch),
the same number of threads (the order of floating-point sums can depend on it), and deterministic kernels.
:func:`seed_everything` does all three.
"""

from __future__ import annotations

import math
import random
import time
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

# One intra-op thread. The models are tiny (64-wide matrices): a second thread buys little and, on a
# busy machine, costs a lot (measured here: 0.17 s per BART step on 1 thread, 0.9 s on 2 threads while
# other work shared the 2 cores). One thread also makes the result independent of the core count.
TRAIN_THREADS = 1


def seed_everything(seed: int, threads: int = TRAIN_THREADS) -> None:
    """Seed Python, NumPy and torch, fix the thread count and ask torch for deterministic kernels."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True, warn_only=True)


def warmup_cosine(step: int, total_steps: int, warmup_steps: int) -> float:
    """Learning-rate multiplier: linear warm-up to 1, then a cosine down to 0.05."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress))


def count_parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def weights_size(folder: Path) -> int:
    """Bytes of the weight files (``*.safetensors``) in ``folder``."""
    return sum(f.stat().st_size for f in Path(folder).glob("*.safetensors"))


def human_bytes(n: int) -> str:
    return f"{n / 1024:.0f} KiB" if n < 1024**2 else f"{n / 1024**2:.2f} MiB"


class Timer:
    """``with Timer() as t: ...`` then ``t.seconds``."""

    def __enter__(self):
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.start


def train_and_store(out_dir: Path, train) -> dict:
    """Run ``train()`` — it returns ``(*parts, losses)`` — timed, and ``save_pretrained`` each part
    (model, tokenizer or processor) into ``out_dir``. Returns the card's first figures:
    ``{"train_seconds": …, "final_loss": …}`` (the mean loss of the last 50 steps)."""
    with Timer() as timer:
        *parts, losses = train()
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    for part in parts:
        part.save_pretrained(out_dir)
    for path in Path(out_dir).iterdir():  # readable by every user: the grading jail runs as another one
        if path.is_file():
            path.chmod(path.stat().st_mode | 0o444)
    return {"train_seconds": timer.seconds, "final_loss": sum(losses[-50:]) / len(losses[-50:])}


def size_figures(model, out_dir: Path, cfg) -> dict:
    """The card's last figures: parameter count, bytes of the saved weights, the training config."""
    from dataclasses import asdict

    return {"parameters": count_parameters(model), "weights_bytes": weights_size(out_dir), "config": asdict(cfg)}


def write_card(folder: Path, title: str, body: str) -> Path:
    """Write ``folder/README.md``: a title line, then the body (Markdown)."""
    path = Path(folder) / "README.md"
    path.write_text(f"# {title}\n\n{body.strip()}\n", encoding="utf-8")
    return path


def fit(model, optimizer, *, steps: int, warmup_steps: int, batch_loss, name: str, progress: bool = True,
        callback=None, callback_every: int = 250) -> list[float]:
    """The training loop every course model uses; returns the loss of each step.

    ``batch_loss(step) -> (loss, info)`` draws the step's batch and returns its loss tensor and a dict
    shown on the progress bar. Each step: backward, gradients clipped to norm 1, an optimizer step on a
    warm-up + cosine learning-rate schedule. ``callback(step, model)``, if given, runs every
    ``callback_every`` steps with the model in eval mode (to watch heads form). The model is left in eval mode.
    """
    params = [p for group in optimizer.param_groups for p in group["params"]]
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: warmup_cosine(step, steps, warmup_steps))
    model.train()
    losses: list[float] = []
    bar = tqdm(range(steps), desc=name, disable=not progress, mininterval=1.0)
    for step in bar:
        loss, info = batch_loss(step)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        schedule.step()
        losses.append(loss.item())
        bar.set_postfix(loss=f"{loss.item():.4f}", **info, refresh=False)
        if callback is not None and (step + 1) % callback_every == 0:
            model.eval()
            callback(step + 1, model)
            model.train()
    model.eval()
    return losses
