"""The fixed part of the standalone training script, as a ``string.Template``.

``$name`` placeholders are filled by ``script.training_script`` (each from one small
section function there); everything else is written out as it stands. The text is a
raw string, so ``\\n`` below reaches the script as the two characters it shows.
"""

from __future__ import annotations

from string import Template

__all__ = ["SCRIPT"]

SCRIPT = Template(r'''#!/usr/bin/env python3
"""Trains $title from scratch: $dataset, $model_name, $optim_name (lr $lr_short), $epochs_short epochs.

Written by CNN Playground (torch $torch_version, torchvision $torchvision_version) from the run's
settings; needs only torch and torchvision:

    pip install torch torchvision
    python $script_name.py [--data FOLDER] [--epochs N] [--device cpu|cuda]

Same data set, model, initialisation, optimiser, schedule and loop as the playground.
Every random draw of training (the order of the images, the augmentations, dropout) comes from
one generator seeded as the run's, in the run's order, so on the same machine the script repeats
the run's losses. The augmentations are the playground's own batched code, copied below, with the
torchvision transform each one corresponds to beside it.
"""

import argparse
import math
import time
from collections import OrderedDict
from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
from torchvision.transforms import v2

# The run's settings, for reference (everything below is written out from them).
SETTINGS = $settings

LR = $lr
IMAGE_SIZE = $image_size
VAL_FRACTION = $val_fraction  # held out of the training images for validation (0: none)
SHUFFLE = $shuffle  # a new order of the training images every epoch

$data_source


$model_source


def init_weights(model: nn.Module) -> None:
    """Initialisation: $init_name; biases start at zero (except for 'default')."""
    with torch.no_grad():
$init_body


$augment_source


AUGMENT = $augment


def augment(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Random augmentation of a float batch in [0, 1], one draw per image from ``g``: (B, C, H, W) -> same."""
    return x if AUGMENT is None else AUGMENT(x, g)


$dropout_source


$stats_source


def to_input(x_u8: torch.Tensor, mean, std, device, channels_last: bool) -> torch.Tensor:
    """uint8 (B, C, H, W) -> normalised float on the device (as the playground computes it)."""
    x = ((x_u8.to(device).float() * (1 / 255)) - mean) / std
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x


$task_source


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=$data_root, help="data folder")
    ap.add_argument("--epochs", type=float, default=$epochs)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--out", default="model.pt", help="where the trained weights go")
    args = ap.parse_args()
    device = torch.device(args.device)

    train_x, train_y, test_x, test_y, classes = load_data(args.data)
    # Normalisation: $normalize_name.
$normalisation
    mean = torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1).to(device)
    std = torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1).to(device)
    train_x, train_y = train_x[:$train_limit], train_y[:$train_limit]
    if VAL_FRACTION > 0:  # a seeded validation split held out of the training images, both in stored order
        n_val = int(round(len(train_y) * VAL_FRACTION))
        held = torch.randperm(len(train_y), generator=torch.Generator().manual_seed($seed))
        keep, held = held[n_val:].sort().values, held[:n_val].sort().values
        train_x, train_y, val_x, val_y = train_x[keep], train_y[keep], train_x[held], train_y[held]
$input_stats
    torch.manual_seed($seed)
    model = build_model()
    init_weights(model)
    $preprocess_init
    channels_last = any(isinstance(m, nn.Conv2d) for m in model.modules())
    model = model.to(device, memory_format=torch.channels_last if channels_last else torch.contiguous_format)
    # A model may give per-group learning rates; frozen parameters never reach the optimiser.
    params = model.param_groups(LR) if hasattr(model, "param_groups") else \
        [p for p in model.parameters() if p.requires_grad]
    opt = $optimizer
    batch_size = $batch_size
    steps_per_epoch = len(train_y) // batch_size
    total_steps = max(1, round(args.epochs * steps_per_epoch))
    sched = $schedule
    print(f"{len(train_y)} training images, {sum(p.numel() for p in model.parameters()):,} parameters, "
          f"{total_steps} steps on {device}")

    g = torch.Generator(device=device).manual_seed($seed)  # every random draw of training: order, dropout
    use_generator(model, g)
    lr_changes = $lr_changes  # step -> learning rate, as changed while the run trained
    step, t0, best = 0, time.time(), None
    for epoch in range(math.ceil(total_steps / steps_per_epoch)):
        perm = torch.randperm(len(train_y), generator=g, device=device) if SHUFFLE else torch.arange(len(train_y))
        loss_sum, n_steps = torch.zeros((), device=device), 0
        for i in range(min(steps_per_epoch, total_steps - step)):
            if step in lr_changes:  # changed here while the run trained: the schedule goes on from it
                scale = lr_changes[step] / opt.param_groups[0]["lr"]
                for group in opt.param_groups:
                    for key in ("lr", "initial_lr", "max_lr", "min_lr"):
                        if key in group:
                            group[key] *= scale
                if sched is not None:
                    sched.base_lrs = [b * scale for b in sched.base_lrs]
            idx = perm[i * batch_size : (i + 1) * batch_size].cpu()
            x = augment(train_x[idx].to(device).float() * (1 / 255), g)  # (B, C, H, W) in [0, 1]
            x, y = make_batch(x, train_y[idx].to(device), g)  # the model's input and its target
            x = ((x - mean) / std).contiguous(
                memory_format=torch.channels_last if channels_last else torch.contiguous_format)
            loss = loss_fn(model(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            $grad_clip
            opt.step()
            if sched is not None:
                sched.step()
            step += 1
            loss_sum += loss.detach()
            n_steps += 1
        test_loss, test_value = evaluate(model, test_x, test_y, mean, std, device, channels_last)
        line = f"epoch {epoch + 1}: train loss {loss_sum.item() / max(n_steps, 1):.6f}"
        if VAL_FRACTION > 0:  # keep the weights of the epoch with the lowest validation loss
            val_loss, val_value = evaluate(model, val_x, val_y, mean, std, device, channels_last)
            line += f", validation loss {val_loss:.6f}, validation {METRIC} {val_value:.4f}"
            if best is None or round(val_loss, 5) <= best[0]:
                best = (round(val_loss, 5), epoch + 1, {k: v.detach().clone() for k, v in model.state_dict().items()})
        print(f"{line}, test loss {test_loss:.6f}, test {METRIC} {test_value:.4f} ({time.time() - t0:.1f} s)")
    if best is not None:  # the course's protocol: test the checkpoint with the best validation loss
        model.load_state_dict(best[2])
        test_loss, test_value = evaluate(model, test_x, test_y, mean, std, device, channels_last)
        print(f"best validation loss at epoch {best[1]}: test loss {test_loss:.6f}, test {METRIC} {test_value:.4f}")
    torch.save(model.state_dict(), args.out)
    print(f"saved {args.out}")


if __name__ == "__main__":
    main()
''')
