"""The diagrams of notebook 07_pretraining (book chapter 5, "Pretraining on unlabeled data", and appendix D).

`draw_cross_entropy` (section 5.1.2, "Calculating the text generation loss"), `draw_training_loop` (5.2, "Training
an LLM"), `draw_temperature_top_k` (5.3.2: temperature scaling and top-k sampling together), `draw_lr_schedule`
(appendix D.1 and D.2: the learning rate of each step, with its formulas) and `draw_training_runs` (D.4: the losses
and learning rates of runs side by side; tools/plot_training_run.py draws a terminal run's losses.json with it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from helpers.teaching.diagrams import draw as d
from helpers.teaching.diagrams.draw import FS, FS_SMALL, INK, MUTED, WIDTH

__all__ = ["draw_cross_entropy", "draw_lr_schedule", "draw_temperature_top_k", "draw_training_loop",
           "draw_training_runs"]


def draw_training_loop(
    num_epochs: int | None = None, eval_freq: int | None = None, start_context: str = "Every effort moves you"
) -> Figure:
    """The training loop: forward, loss, backward, step per batch; evaluation every eval_freq steps; epoch samples."""
    if any(n is not None and n < 1 for n in (num_epochs, eval_freq)):
        raise ValueError(f"num_epochs and eval_freq must be >= 1 (or None), got {num_epochs} and {eval_freq}")
    epochs = "each epoch (num_epochs of them)" if num_epochs is None else f"each of the {num_epochs} epochs"
    every = "every eval_freq steps" if eval_freq is None else f"every {eval_freq} steps"
    fig, ax = d.canvas(WIDTH, 5.25)
    d.title(ax, "The training loop")
    d.frame(ax, 0.25, 0.65, WIDTH - 0.5, 4.2)
    d.label(ax, 0.45, 0.9, f"for {epochs}", colour=INK, size=FS, ha="left")
    d.frame(ax, 0.45, 1.2, WIDTH - 0.9, 2.05)
    d.label(ax, 0.65, 1.45, "for each batch of the training loader", colour=INK, size=FS, ha="left")
    steps = (("batch\ninputs, targets\n(shifted by one)", "data"), ("model(inputs)\n→ logits", "layer"),
             ("cross-entropy of\nlogits vs targets\n→ loss", "op"), ("zero_grad()\nloss.backward()\n→ gradients", "op"),
             ("optimizer.step()\nupdate the\nweights", "accent"))
    w, gap, top, h = 1.42, 0.22, 1.75, 0.85
    x = (WIDTH - len(steps) * w - (len(steps) - 1) * gap) / 2
    centres = []
    for k, (text, kind) in enumerate(steps):
        d.box(ax, x, top, w, h, text, kind=kind, size=FS_SMALL)
        if k:
            d.arrow(ax, [(x - gap + 0.01, top + h / 2), (x - 0.02, top + h / 2)])
        centres.append(x + w / 2)
        x += w + gap
    back = top + h + 0.32
    d.arrow(ax, [(centres[-1], top + h), (centres[-1], back), (centres[0], back), (centres[0], top + h + 0.02)])
    d.label(ax, (centres[0] + centres[-1]) / 2, back - 0.15, "next batch")
    side = ((0.7, f"{every}: train and validation loss\n(eval mode, no gradients), printed and kept"),
            (WIDTH / 2 + 0.15, f"after each epoch: print a sample\ncontinuing {start_context!r}"))
    for x, text in side:
        d.box(ax, x, 3.7, WIDTH / 2 - 0.85, 0.75, text, kind="op", size=FS_SMALL)
        d.arrow(ax, [(x + (WIDTH / 2 - 0.85) / 2, 3.25), (x + (WIDTH / 2 - 0.85) / 2, 3.68)], dashed=True)
    d.label(ax, 0.25, 5.05, "The loop returns the losses and the tokens seen, which plot_losses draws.", ha="left")
    return d.closed(fig)


def draw_cross_entropy(
    input_tokens: Sequence[Sequence[str]], target_tokens: Sequence[Sequence[str]], target_probas: object
) -> Figure:
    """The cross-entropy loss step by step: each target's probability, its log, the mean, and the minus sign."""
    probas = torch.as_tensor(target_probas, dtype=torch.float32).detach()
    if probas.dim() != 2:
        raise ValueError(f"target_probas must be (batch, num_tokens), got shape {tuple(probas.shape)}")
    shape = tuple(probas.shape)
    for name, tokens in (("input_tokens", input_tokens), ("target_tokens", target_tokens)):
        if (len(tokens), len(tokens[0]) if tokens else 0) != shape or any(len(r) != shape[1] for r in tokens):
            raise ValueError(f"{name} must be a {shape[0]} x {shape[1]} table like target_probas")
    if probas.numel() > 8:
        raise ValueError(f"{probas.numel()} predictions are too many to draw; use at most 8")
    if (probas <= 0).any() or (probas > 1).any():
        raise ValueError("target_probas must be probabilities in (0, 1]")
    logs = torch.log(probas)
    loss = -logs.mean()
    pitch, h, top = 0.42, 0.32, 1.45
    rows = [(r, c) for r in range(shape[0]) for c in range(shape[1])]
    height = top + len(rows) * pitch + (shape[0] - 1) * 0.15 + 0.85
    fig, ax = d.canvas(WIDTH, height)
    d.title(ax, "The cross-entropy loss, step by step")
    cols = ((0.3, 1.3, "input\ntoken"), (1.95, 1.3, "target\n(next token)"), (3.6, 1.3, "probability\nof the target"),
            (5.2, 1.0, "log of the\nprobability"))
    for x, w, text in cols:
        d.label(ax, x + w / 2, top - 0.38, text, colour=INK)
    y = top
    centres = []
    for k, (r, c) in enumerate(rows):
        if k and c == 0:
            y += 0.15
        d.box(ax, 0.3, y, 1.3, h, input_tokens[r][c].strip() or repr(input_tokens[r][c]), kind="data", size=FS_SMALL,
              rounded=False, lw=0.8)
        d.arrow(ax, [(1.62, y + h / 2), (1.93, y + h / 2)])
        d.box(ax, 1.95, y, 1.3, h, target_tokens[r][c].strip() or repr(target_tokens[r][c]), kind="highlight",
              size=FS_SMALL, rounded=False, lw=0.8)
        d.box(ax, 3.6, y, 1.3, h, f"{probas[r, c].item():.4e}", kind="data", size=FS_SMALL, rounded=False, lw=0.8)
        d.box(ax, 5.2, y, 1.0, h, d.fmt(logs[r, c].item()), kind="data", size=FS_SMALL, rounded=False, lw=0.8)
        centres.append(y + h / 2)
        y += pitch
    mid = (centres[0] + centres[-1]) / 2
    d.box(ax, 6.65, mid - 0.35, 1.0, 0.7, f"mean\n{d.fmt(logs.mean().item())}", kind="op", size=FS_SMALL)
    for cy in centres:
        d.arrow(ax, [(6.22, cy), (6.63, mid)], colour=MUTED)
    d.arrow(ax, [(7.67, mid), (7.93, mid)], "× −1", at=(7.8, mid - 0.5), ha="center")
    d.box(ax, 7.95, mid - 0.35, 0.95, 0.7, f"loss\n{loss.item():.4f}", kind="accent", size=FS_SMALL)
    d.label(ax, 0.3, y + 0.3, f"Perplexity = exp(loss) = {torch.exp(loss).item():,.1f}. Training raises the targets' "
            "probabilities, which lowers the loss.", ha="left")
    return d.closed(fig)


def draw_temperature_top_k(
    logits: Sequence[float], vocab: Sequence[str], temperatures: Sequence[float] = (1, 0.1, 5), top_k: int = 3
) -> Figure:
    """How temperature (softmax of logits / T) and top-k (keep the k largest logits) reshape the next-token odds."""
    d.check_lengths(logits=logits, vocab=vocab)
    if any(t <= 0 for t in temperatures):
        raise ValueError(f"temperatures must be > 0, got {list(temperatures)}")
    if not 1 <= top_k <= len(logits):
        raise ValueError(f"top_k must be between 1 and {len(logits)}, got {top_k}")
    if len(temperatures) + 1 > 5 or len(logits) > 12:
        raise ValueError("too much to draw: use at most 4 temperatures and 12 tokens")
    values = torch.tensor([float(v) for v in logits])
    columns = [(f"T = {t:g}", f"softmax(logits / {t:g})", torch.softmax(values / t, dim=0), None) for t in temperatures]
    threshold = torch.topk(values, top_k).values[-1]
    kept = values >= threshold
    columns.append((f"top-k = {top_k}", "others −∞, then softmax",
                    torch.softmax(values.masked_fill(~kept, -torch.inf), dim=0), kept))
    word_w = max(d.text_width(w) for w in vocab) + 0.25
    x_logit = 0.2 + word_w
    x0 = x_logit + 0.85
    col_w = (WIDTH - 0.15 - x0) / len(columns)
    pitch, h, top = 0.32, 0.22, 2.1
    fig, ax = d.canvas(WIDTH, top + len(vocab) * pitch + 0.7)
    d.title(ax, "Temperature and top-k reshape the next-token distribution")
    x = 0.2
    chain = (("logits", "data"), ("÷ T", "op"), ("softmax", "op"), ("probabilities", "data"), ("logits", "data"),
             (f"keep the top {top_k}, others −∞", "op"), ("softmax", "op"))
    for k, (text, kind) in enumerate(chain):
        if k == 4:
            x += 0.25
        elif k:
            d.arrow(ax, [(x + 0.02, 0.86), (x + 0.26, 0.86)])
            x += 0.28
        w = d.text_width(text, FS_SMALL) + 0.24
        d.box(ax, x, 0.7, w, 0.32, text, kind=kind, size=FS_SMALL)
        x += w
    d.label(ax, x_logit + 0.33, top - 0.38, "logit", colour=INK)
    argmax = int(values.argmax())
    for i, word in enumerate(vocab):
        y = top + i * pitch
        d.label(ax, x_logit - 0.1, y + h / 2, word, colour=INK, ha="right", size=FS, bold=i == argmax)
        d.box(ax, x_logit, y - 0.02, 0.66, h + 0.04, d.fmt(values[i].item(), 2), kind="data", size=FS_SMALL,
              rounded=False, lw=0.8)
    bar_max = col_w - 0.75
    for k, (name, how, probas, mask) in enumerate(columns):
        x = x0 + k * col_w
        d.label(ax, x + col_w / 2 - 0.05, top - 0.5, name, colour=INK, size=FS, bold=True)
        d.label(ax, x + col_w / 2 - 0.05, top - 0.25, how)
        for i in range(len(vocab)):
            y = top + i * pitch
            p = probas[i].item()
            if mask is not None and not mask[i]:
                d.box(ax, x, y, 0.3, h, kind="masked", rounded=False, lw=0.6)
                d.label(ax, x + 0.38, y + h / 2, "0", ha="left")
                continue
            length = max(bar_max * p, 0.02)
            d.box(ax, x, y, length, h, kind="accent" if i == argmax else "highlight", rounded=False, lw=0.6)
            d.label(ax, x + length + 0.08, y + h / 2, f"{p:.2f}" if p >= 0.005 else "<0.01", ha="left")
    d.label(ax, 0.2, top + len(vocab) * pitch + 0.3, "Bars: probabilities. Low T sharpens towards the argmax (greedy); "
            "high T flattens; top-k allows only the k most likely.", ha="left")
    return d.closed(fig)


def _plot_area(fig: Figure, left: float, top: float, width: float, height: float, ylabel: str) -> Axes:
    """Real axes for curves, `left` and `top` inches from the figure's top-left corner, in the diagrams' type sizes."""
    fig_w, fig_h = fig.get_size_inches()
    ax = fig.add_axes((left / fig_w, 1 - (top + height) / fig_h, width / fig_w, height / fig_h))
    ax.tick_params(labelsize=FS_SMALL, colors=INK)
    ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))  # no "1e-2" offset above the axis
    ax.set_ylabel(ylabel, fontsize=FS_SMALL, color=INK)
    ax.grid(alpha=0.3)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return ax


def _ticks_inside(plot: Axes) -> None:
    """Keep only the ticks within the axes' limits (a label beyond them would still count as text of the figure)."""
    for get_lim, get_ticks, set_ticks in ((plot.get_xlim, plot.get_xticks, plot.set_xticks),
                                          (plot.get_ylim, plot.get_yticks, plot.set_yticks)):
        low, high = get_lim()
        set_ticks([t for t in get_ticks() if low <= t <= high])


def _curve_kind(rates: Sequence[float], warmup_steps: int) -> str:
    """"constant" if every rate from the warmup's end on is the peak, else "cosine" (a decay)."""
    return "constant" if all(r == max(rates) for r in rates[warmup_steps:]) else "cosine"


def draw_lr_schedule(rates: Mapping[str, Sequence[float]], warmup_steps: int) -> Figure:
    """The learning rate of every step, one curve per schedule, with the warmup's end marked and the formulas of
    the phases the curves show: warmup (D.1), then constant (D.1) or cosine decay (D.2)."""
    if not rates or any(len(values) == 0 for values in rates.values()) or len(rates) > 4:
        raise ValueError("rates must map 1 to 4 names to non-empty lists of learning rates, one per step")
    total = max(len(values) for values in rates.values())
    if not 0 <= warmup_steps <= total:
        raise ValueError(f"warmup_steps must be between 0 and the {total} steps drawn, got {warmup_steps}")
    kinds = {_curve_kind(values, warmup_steps) for values in rates.values()}
    formulas = ["warmup (D.1), steps 0 to warmup_steps − 1:   lr = initial_lr + step × (peak_lr − initial_lr) / "
                "warmup_steps"]
    if "constant" in kinds:
        formulas.append("then constant (D.1), from step warmup_steps on:   lr = peak_lr")
    if "cosine" in kinds:
        formulas.append("then cosine decay (D.2), from step warmup_steps on:   lr = min_lr + (peak_lr − min_lr) × ½ × "
                        "(1 + cos(π × progress)),\nprogress = (step − warmup_steps) / (total_steps − warmup_steps): "
                        "0 at the peak, nearly 1 at the last step")
    heights = [0.42 if "\n" not in text else 0.7 for text in formulas]
    height = 4.0 + sum(heights) + 0.12 * len(formulas) + 0.5
    fig, ax = d.canvas(WIDTH, height)
    after = " or ".join(kind if kind == "constant" else "cosine decay" for kind in sorted(kinds))
    d.title(ax, f"The learning rate of each step: warmup, then {after}")
    plot = _plot_area(fig, 0.95, 0.7, WIDTH - 1.25, 2.6, "learning rate")
    for values in rates.values():
        plot.plot(range(len(values)), list(values), lw=1.8)
    plot.set_xlim(0, total)
    plot.set_ylim(0, 1.08 * max(max(values) for values in rates.values()))
    _ticks_inside(plot)
    plot.set_xlabel("step", fontsize=FS_SMALL, color=INK)
    plot.axvline(warmup_steps, color=MUTED, lw=1, linestyle="--")
    plot.text(warmup_steps + total / 100, 0.08 * plot.get_ylim()[1], f"warmup ends: step {warmup_steps}",
              fontsize=FS_SMALL, color=MUTED, ha="left", va="bottom")
    plot.legend(list(rates), fontsize=FS_SMALL, loc="center right", frameon=False)
    y = 4.0
    for text, h in zip(formulas, heights, strict=True):
        d.box(ax, 0.2, y, WIDTH - 0.4, h, text, kind="op", size=FS_SMALL)
        y += h + 0.12
    first = next(iter(rates.values()))
    d.label(ax, 0.2, y + 0.2, f"Here: warmup_steps = {warmup_steps} of total_steps = {total}, from initial_lr = "
            f"{first[0]:g} to peak_lr = {max(first):g}.", ha="left")
    return d.closed(fig)


def draw_training_runs(runs: Mapping[str, Sequence[Sequence[float]]], eval_freq: int) -> Figure:
    """Runs side by side, each given as (train losses, validation losses, learning rates): the losses measured every
    `eval_freq` steps (top) and the learning rate of every step (bottom), against the step."""
    if not runs or len(runs) > 4 or any(len(run) != 3 or not run[0] or len(run[0]) != len(run[1]) or not run[2]
                                        for run in runs.values()):
        raise ValueError("runs must map 1 to 4 names to (train_losses, val_losses, learning_rates): the two loss "
                         "lists equally long, none empty")
    if eval_freq < 1:
        raise ValueError(f"eval_freq must be >= 1, got {eval_freq}")
    fig, ax = d.canvas(WIDTH, 6.45)
    d.title(ax, "Losses and learning rates, run by run")
    losses = _plot_area(fig, 0.95, 0.7, WIDTH - 1.25, 2.9, "loss")
    rates = _plot_area(fig, 0.95, 4.05, WIDTH - 1.25, 1.5, "learning rate")
    steps = 0
    for i, (name, (train, val, lrs)) in enumerate(runs.items()):
        at = range(0, eval_freq * len(train), eval_freq)
        losses.plot(at, list(train), color=f"C{i}", lw=1.8, label=f"{name}: training")
        losses.plot(at, list(val), color=f"C{i}", lw=1.8, linestyle="-.", label=f"{name}: validation")
        rates.plot(range(len(lrs)), list(lrs), color=f"C{i}", lw=1.8)
        steps = max(steps, len(lrs), eval_freq * (len(train) - 1) + 1)
    rates.set_ylim(0, 1.08 * rates.get_ylim()[1])  # the losses keep matplotlib's range: their differences show
    for plot in (losses, rates):
        plot.set_xlim(0, steps)
        _ticks_inside(plot)
    losses.legend(fontsize=FS_SMALL, loc="upper right", frameon=False)
    rates.set_xlabel("step", fontsize=FS_SMALL, color=INK)
    d.label(ax, 0.2, 6.2, f"Losses measured every {eval_freq} steps; the learning rate of every step, in the same "
            "colour as its run.", ha="left")
    return d.closed(fig)
