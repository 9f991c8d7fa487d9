"""`subset`: some classes of another data set, optionally only a few training images of each.

It makes a second task out of one data set (MNIST's digits 0-4 as a source task, 5-9 as a target task
with ten labelled images each: the transfer-learning lesson), and a few-shot training set. The test
split keeps every test image of the chosen classes; labels are renumbered 0..k-1 in the order given,
and the class names are the base data set's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ..errors import ConfigError
from .datasets import DATASETS, Dataset, load_dataset, register_dataset

__all__ = ["parse_classes", "subset"]


def parse_classes(spec: Any, n: int) -> list[int]:
    """ "0-4", "5,7,9", "0-2,8" or a list of indices -> class indices of a base data set with ``n`` classes."""
    parts = [str(v) for v in spec] if isinstance(spec, (list, tuple)) else str(spec).split(",")
    out: list[int] = []
    try:
        for part in (p.strip() for p in parts if str(p).strip()):
            a, _, b = part.partition("-")
            out += list(range(int(a), int(b) + 1)) if b else [int(a)]
    except ValueError:
        raise ConfigError(f"classes is a list of class numbers such as '0-4' or '5,7,9' (got {spec!r}).") from None
    if len(out) < 2 or len(set(out)) != len(out) or not all(0 <= c < n for c in out):
        raise ConfigError(f"classes must name at least two different classes, each from 0 to {n - 1} (got {spec!r}).")
    return out


def _input_shape(
    of: str = "shapes", classes: Any = None, per_class: int = 0, test_per_class: int = 0, seed: int = 0, **params: Any
) -> tuple[int, int, int]:
    if of == "subset":
        raise ConfigError("A subset is taken of another data set, not of a subset.")
    return DATASETS.facts(of)["input_shape"](**params)


@register_dataset(
    "subset",
    input_shape=_input_shape,
    num_classes=None,
    ranges={"per_class": (0, 1000, 1), "test_per_class": (0, 1000, 10), "seed": (0, 1000, 1)},
)
def subset(
    *,
    root: Path,
    download: bool = True,
    of: str = "shapes",
    classes: Any = "0-4",
    per_class: int = 0,
    test_per_class: int = 0,
    seed: int = 0,
    **params: Any,
) -> Dataset:
    """Some classes of another data set (``of``), with ``per_class`` training images each (0: all) and
    ``test_per_class`` test images each (0: all)."""
    if of == "subset":
        raise ConfigError("A subset is taken of another data set, not of a subset.")
    for key, n in (("per_class", per_class), ("test_per_class", test_per_class)):
        if not (isinstance(n, int) and 0 <= n <= 100_000):
            raise ConfigError(f"{key} is a number of images per class, 0 for all (got {n!r}).")
    base = load_dataset(of, root=root, download=download, **params)
    chosen = parse_classes(classes, base.num_classes)
    g = torch.Generator().manual_seed(int(seed))

    def pick(x: torch.Tensor, y: torch.Tensor, few: int, split: str) -> tuple[torch.Tensor, torch.Tensor]:
        idx, labels = [], []
        for new, c in enumerate(chosen):
            where = (y == c).nonzero().flatten()
            if few:
                if len(where) < few:
                    raise ConfigError(
                        f"{of} has {len(where)} {split} images of class {base.classes[c]!r}, "
                        f"fewer than {few} asked for: ask for fewer."
                    )
                where = where[torch.randperm(len(where), generator=g)[:few]].sort().values
            idx.append(where)
            labels.append(torch.full((len(where),), new, dtype=torch.int64))
        order = torch.cat(idx).argsort()  # the base's own order: classes stay interleaved (a train_limit cuts fairly)
        return x[torch.cat(idx)[order]].contiguous(), torch.cat(labels)[order]

    tx, ty = pick(base.train_x, base.train_y, per_class, "training")
    vx, vy = pick(base.test_x, base.test_y, test_per_class, "test")
    note = f"classes {', '.join(base.classes[c] for c in chosen)} of {of}" + (
        f", {per_class} training images each" if per_class else ""
    )
    return Dataset("subset", [base.classes[c] for c in chosen], tx, ty, vx, vy, notes=[note])
