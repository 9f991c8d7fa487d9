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
The playground runs augmentations batched on the device; here they are torchvision's
per-image transforms, so random draws (not their distribution) differ.
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

$data_source


$model_source


def init_weights(model: nn.Module) -> None:
    """Initialisation: $init_name; biases start at zero (except for 'default')."""
    with torch.no_grad():
$init_body


AUGMENT = $augment


def augment(x: torch.Tensor) -> torch.Tensor:
    """Per-image random augmentation of a float batch in [0, 1]: (B, C, H, W) -> same."""
    if AUGMENT is None:
        return x
    return torch.stack([AUGMENT(img) for img in x])


@torch.no_grad()
def evaluate(model, x_u8, y, mean, std, device, batch_size=$eval_batch_size):
    model.eval()
    correct, loss = 0, 0.0
    for i in range(0, len(y), batch_size):
        x = ((x_u8[i : i + batch_size].to(device).float() / 255) - mean) / std
        out = model(x)
        loss += F.cross_entropy(out, y[i : i + batch_size].to(device), reduction="sum").item()
        correct += (out.argmax(1).cpu() == y[i : i + batch_size]).sum().item()
    model.train()
    return loss / len(y), correct / len(y)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=$data_root, help="data folder")
    ap.add_argument("--epochs", type=float, default=$epochs)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--out", default="model.pt", help="where the trained weights go")
    args = ap.parse_args()
    device = torch.device(args.device)

    train_x, train_y, test_x, test_y, classes = load_data(args.data)
    train_x, train_y = train_x[:$train_limit], train_y[:$train_limit]
    # Normalisation statistics from the training split.
    xf = train_x.double() / 255
    mean = xf.mean(dim=(0, 2, 3)).float().view(1, -1, 1, 1).to(device)
    std = xf.std(dim=(0, 2, 3)).clamp_min(1e-6).float().view(1, -1, 1, 1).to(device)
    del xf
$input_stats
    torch.manual_seed($seed)
    model = build_model()
    init_weights(model)
    $preprocess_init
    model = model.to(device)
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

    g = torch.Generator().manual_seed($seed)
    lr_changes = $lr_changes  # step -> learning rate, as changed while the run trained
    step, t0 = 0, time.time()
    for epoch in range(math.ceil(total_steps / steps_per_epoch)):
        perm = torch.randperm(len(train_y), generator=g)
        for i in range(min(steps_per_epoch, total_steps - step)):
            if step in lr_changes:  # changed here while the run trained: the schedule goes on from it
                scale = lr_changes[step] / opt.param_groups[0]["lr"]
                for group in opt.param_groups:
                    for key in ("lr", "initial_lr", "max_lr", "min_lr"):
                        if key in group:
                            group[key] *= scale
                if sched is not None:
                    sched.base_lrs = [b * scale for b in sched.base_lrs]
            idx = perm[i * batch_size : (i + 1) * batch_size]
            x = augment(train_x[idx].float() / 255).to(device)  # (B, C, H, W) in [0, 1]
            x = (x - mean) / std
            y = train_y[idx].to(device)
            loss = F.cross_entropy(model(x), y, label_smoothing=$label_smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            $grad_clip
            opt.step()
            if sched is not None:
                sched.step()
            step += 1
        test_loss, test_acc = evaluate(model, test_x, test_y, mean, std, device)
        print(f"epoch {epoch + 1}: train loss {loss.item():.4f}, test loss {test_loss:.4f}, "
              f"test accuracy {test_acc:.4f} ({time.time() - t0:.1f} s)")
    torch.save(model.state_dict(), args.out)
    print(f"saved {args.out}")


if __name__ == "__main__":
    main()
''')
