"""LoRA, low-rank adaptation: train a small update beside each frozen linear layer, then merge it in.

Built in notebooks/09_classification_finetuning.ipynb, section "Appendix E: Parameter-efficient fine-tuning with
LoRA" (`LoRALayer`, `LinearWithLoRA`, `replace_linear_with_lora`; `merge_lora` beyond the book). The update is
scaled by alpha / rank, as in the LoRA paper (Hu et al., 2021); the book's listing scales it by alpha alone.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from helpers.checks import check_int

__all__ = ["LinearWithLoRA", "LoRALayer", "merge_lora", "replace_linear_with_lora"]


def _check_rank_alpha(rank: object, alpha: object) -> None:
    check_int(rank, "rank", why="the inner size of A and B")
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not alpha > 0 or math.isinf(alpha):
        raise ValueError(f"alpha must be a number > 0 (the update is scaled by alpha / rank), got {alpha!r}")


class LoRALayer(nn.Module):
    """The low-rank update x -> (alpha / rank) * x A B, with A (in_dim, rank) random and B (rank, out_dim) zero.

    B starts at zero, so the update starts at zero and a wrapped layer first computes exactly what it did before.
    """

    def __init__(self, in_dim: int, out_dim: int, rank: int, alpha: float) -> None:
        super().__init__()
        for name, value in (("in_dim", in_dim), ("out_dim", out_dim)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a whole number >= 1, got {value!r}")
        _check_rank_alpha(rank, alpha)
        self.A = nn.Parameter(torch.empty(in_dim, rank))
        nn.init.kaiming_uniform_(self.A, a=math.sqrt(5))  # as nn.Linear initializes its weight
        self.B = nn.Parameter(torch.zeros(rank, out_dim))
        self.rank = rank
        self.alpha = alpha
        self.scaling = alpha / rank

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(..., in_dim) -> (..., out_dim)."""
        return self.scaling * (x @ self.A @ self.B)

    def delta_weight(self) -> torch.Tensor:
        """The update as an `nn.Linear` weight (out_dim, in_dim): x @ delta.T equals `forward(x)`."""
        return self.scaling * (self.A @ self.B).T

    def extra_repr(self) -> str:
        return f"in_dim={self.A.shape[0]}, out_dim={self.B.shape[1]}, rank={self.rank}, alpha={self.alpha:g}"


class LinearWithLoRA(nn.Module):
    """A linear layer plus a `LoRALayer` of the same shape: linear(x) + lora(x).

    The LoRA matrices go to the linear layer's device and dtype, so a model already on a GPU can be wrapped.
    """

    def __init__(self, linear: nn.Linear, rank: int, alpha: float) -> None:
        super().__init__()
        if not isinstance(linear, nn.Linear):
            raise TypeError(f"LinearWithLoRA wraps an nn.Linear, got {type(linear).__name__}")
        self.linear = linear
        lora = LoRALayer(linear.in_features, linear.out_features, rank, alpha)  # A drawn as the book draws it
        self.lora = lora.to(device=linear.weight.device, dtype=linear.weight.dtype)  # beside its linear layer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(..., in_features) -> (..., out_features)."""
        return self.linear(x) + self.lora(x)


def replace_linear_with_lora(model: nn.Module, rank: int, alpha: float) -> int:
    """Wrap every `nn.Linear` inside `model` (in place, in module order) in a `LinearWithLoRA`; return how many.

    Freeze the model's own parameters first: only the new A and B matrices should train. Each A is random, so
    seed torch first for the same A every time.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    _check_rank_alpha(rank, alpha)
    if isinstance(model, LinearWithLoRA) or any(isinstance(m, LinearWithLoRA) for m in model.modules()):
        raise ValueError("the model already has LoRA layers: wrapping them again would add a second update to each")
    if isinstance(model, nn.Linear):
        raise TypeError("model is itself an nn.Linear: wrap it with LinearWithLoRA(linear, rank, alpha)")
    count = _replace(model, rank, alpha)
    if count == 0:
        raise ValueError(f"{type(model).__name__} has no nn.Linear layer to adapt")
    return count


def _replace(module: nn.Module, rank: int, alpha: float) -> int:
    count = 0
    for name, child in module.named_children():
        if isinstance(child, nn.Linear):
            setattr(module, name, LinearWithLoRA(child, rank, alpha))
            count += 1
        else:
            count += _replace(child, rank, alpha)
    return count


def merge_lora(model: nn.Module) -> int:
    """Fold each `LinearWithLoRA` back into one `nn.Linear` whose weight is W + (alpha / rank) (A B)^T; in place.

    The model then computes the same outputs (up to rounding) with no extra work per layer. Returns how many layers
    were merged. The merged layers keep the frozen layer's `requires_grad`.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if isinstance(model, LinearWithLoRA):
        raise TypeError("merge the model that holds this layer, not the layer itself")
    return _merge(model)


def _merge(module: nn.Module) -> int:
    count = 0
    for name, child in module.named_children():
        if isinstance(child, LinearWithLoRA):
            linear = child.linear
            with torch.no_grad():
                linear.weight.add_(child.lora.delta_weight())
            setattr(module, name, linear)
            count += 1
        else:
            count += _merge(child)
    return count
