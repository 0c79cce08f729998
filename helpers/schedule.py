"""The learning rate of each training step: linear warmup, then a constant rate or a cosine decay (book appendix D).

Built in notebooks/07_pretraining.ipynb, part "Appendix D": the warmup in D.1 ("Learning rate warmup"), the cosine
decay in D.2 ("Cosine decay"). Gradient clipping (D.3) and the training function that combines the three (D.4) are
the `lr_schedule`, `clip_grad_norm` and `clip_from_step` arguments of `helpers.train.train_model`, which sets every
step's learning rate from an `LRSchedule`; `python -m helpers.train --schedule cosine --warmup-steps 0.2 ...` is the
same from a terminal.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from helpers.checks import check_int

__all__ = ["SCHEDULE_KINDS", "LRSchedule"]

# What follows the warmup: the peak rate held to the end (the book's D.1), or a cosine decay to min_lr (D.2).
SCHEDULE_KINDS = ("constant", "cosine")


def _check_rate(value: object, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")


@dataclass(frozen=True)
class LRSchedule:
    """The learning rate of optimizer step 0, 1, ..., total_steps - 1 (`schedule(step)`), as the book's appendix D.

    Steps 0 to warmup_steps - 1 rise linearly from `initial_lr` by (peak_lr - initial_lr) / warmup_steps per step;
    from step warmup_steps on the rate is `peak_lr` ("constant") or follows half a cosine from `peak_lr` down towards
    `min_lr` ("cosine"): min_lr + (peak_lr - min_lr) * 0.5 * (1 + cos(pi * progress)), with progress =
    (step - warmup_steps) / (total_steps - warmup_steps). Without warmup and with "constant", every step gets
    `peak_lr`: chapter 5's constant learning rate.
    """

    peak_lr: float
    total_steps: int
    warmup_steps: int = 0
    initial_lr: float = 3e-05  # the book's train_model defaults (its D.4 run passes 1e-5 for both)
    min_lr: float = 1e-06
    kind: str = "cosine"

    def __post_init__(self) -> None:
        check_int(self.total_steps, "total_steps")
        check_int(self.warmup_steps, "warmup_steps", minimum=0)
        for name in ("peak_lr", "initial_lr", "min_lr"):
            _check_rate(getattr(self, name), name)
        if self.peak_lr == 0:
            raise ValueError("peak_lr must be > 0, got 0: no step would change the weights")
        if self.kind not in SCHEDULE_KINDS:
            raise ValueError(f"kind must be one of {', '.join(SCHEDULE_KINDS)}, got {self.kind!r}")
        if self.warmup_steps > self.total_steps:
            raise ValueError(f"warmup_steps ({self.warmup_steps}) must not exceed total_steps ({self.total_steps})")
        if self.warmup_steps and self.initial_lr > self.peak_lr:
            raise ValueError(f"initial_lr ({self.initial_lr}) must not exceed peak_lr ({self.peak_lr}): the warmup "
                             "rises from initial_lr to peak_lr")
        if self.kind == "cosine" and self.min_lr > self.peak_lr:
            raise ValueError(f"min_lr ({self.min_lr}) must not exceed peak_lr ({self.peak_lr}): the cosine decays "
                             "from peak_lr to min_lr")

    def __call__(self, step: int) -> float:
        """The learning rate of optimizer step `step` (counted from 0)."""
        check_int(step, "step", minimum=0)
        if step >= self.total_steps:
            raise ValueError(f"step {step} is past the schedule's {self.total_steps} steps (0 to "
                             f"{self.total_steps - 1}); make total_steps cover the whole training")
        if step < self.warmup_steps:
            increment = (self.peak_lr - self.initial_lr) / self.warmup_steps
            return self.initial_lr + step * increment
        if self.kind == "constant":
            return self.peak_lr
        progress = (step - self.warmup_steps) / (self.total_steps - self.warmup_steps)
        return self.min_lr + (self.peak_lr - self.min_lr) * 0.5 * (1 + math.cos(math.pi * progress))

    def rates(self) -> list[float]:
        """The learning rate of every step, 0 to total_steps - 1 (the book's `track_lrs`)."""
        return [self(step) for step in range(self.total_steps)]
