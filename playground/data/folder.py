"""`image_folder`: a user's own images in ImageFolder layout, decoded once.

Layout: ``root/<class>/*.jpg`` (split by a seeded draw), or ``root/train/<class>/``
and ``root/test/<class>/``. Every image is decoded once with Pillow (its
decompression-bomb guard stays on; JPEGs are decoded at reduced size with
``draft``), converted to one mode, centre-cropped to a square and resized to
one size. Corrupt or truncated files are skipped and counted; files that are
not images (by extension, as torchvision's ImageFolder does) are ignored.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps

from ..errors import ConfigError, DatasetUnavailable
from .datasets import Dataset, check_size, register_dataset

__all__ = ["read_image", "scan_folder"]

IMG_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp", ".gif")
MODES = ("auto", "RGB", "L")


def _is_image(p: Path) -> bool:
    return p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMG_EXTENSIONS


def scan_folder(root: Path) -> dict[str, dict[str, list[Path]]]:
    """{split: {class: [files]}} with split in {"all"} or {"train", "test"}."""
    if not root.is_dir():
        raise DatasetUnavailable(
            f"Image folder {root} does not exist. Give a folder with one sub-folder per class "
            f"(cats/*.jpg, dogs/*.jpg), optionally under train/ and test/."
        )
    splits = {"train": root / "train", "test": root / "test"}
    if all(p.is_dir() for p in splits.values()):
        layout = {s: _classes(p) for s, p in splits.items()}
        missing = sorted(set(layout["train"]) ^ set(layout["test"]))
        if missing:
            raise DatasetUnavailable(
                f"train/ and test/ in {root} must hold the same class folders; "
                f"only in one of them: {', '.join(missing)}."
            )
    else:
        layout = {"all": _classes(root)}
    for split, classes in layout.items():
        where = root if split == "all" else root / split
        if not classes:
            raise DatasetUnavailable(
                f"No class folders in {where}. Put each class's images in a sub-folder named "
                f"after the class (e.g. {where}/cats/1.jpg)."
            )
        empty = [c for c, files in classes.items() if not files]
        if empty:
            raise DatasetUnavailable(
                f"These class folders in {where} hold no images: {', '.join(sorted(empty))}. "
                f"Add images ({', '.join(IMG_EXTENSIONS)}) or remove the folders."
            )
    n_classes = len(next(iter(layout.values())))
    if n_classes < 2:
        raise DatasetUnavailable(
            f"{root} holds only one class; a classifier needs at least two class folders."
        )
    return layout


def _classes(folder: Path) -> dict[str, list[Path]]:
    out: dict[str, list[Path]] = {}
    for d in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
        out[d.name] = sorted(p for p in d.rglob("*") if _is_image(p))
    return out


def read_image(path: Path | str, size: int, mode: str) -> np.ndarray:
    """Decode one image to a (size, size, C) uint8 array in ``mode`` ("RGB" or "L").

    Any Pillow mode is accepted: palette and RGBA are flattened, 16-bit and
    32-bit greys are scaled to 8 bits (Pillow's own convert would clip them).
    """
    with Image.open(path) as im:
        im.draft("RGB" if mode == "RGB" else "L", (size, size))  # JPEG: decode at reduced size
        im = ImageOps.exif_transpose(im)
        im = _to_8bit(im)
        if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
            im = im.convert("RGBA")
            bg = Image.new("RGBA", im.size, (255, 255, 255, 255))  # transparent -> white
            im = Image.alpha_composite(bg, im)
        im = im.convert(mode)
        im = ImageOps.fit(im, (size, size), Image.Resampling.BILINEAR)
        arr = np.asarray(im, dtype=np.uint8)
    return arr[:, :, None] if arr.ndim == 2 else arr


def _to_8bit(im: Image.Image) -> Image.Image:
    if im.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        a = np.asarray(im, dtype=np.float64)
        hi = 65535.0 if im.mode.startswith("I;16") else max(float(a.max()), 1.0)
        return Image.fromarray(np.clip(a / hi * 255.0, 0, 255).round().astype(np.uint8), "L")
    return im


def _is_grey(path: Path) -> bool:
    try:
        with Image.open(path) as im:
            return im.mode in ("1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "I;16N", "F")
    except Exception:
        return False  # unreadable: decided (and counted) when decoding


def _decode(files: list[Path], size: int, mode: str) -> tuple[list[np.ndarray], list[int], list[str]]:
    arrays, keep, bad = [], [], []
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)  # too big: skip, don't risk it
        for i, f in enumerate(files):
            try:
                arrays.append(read_image(f, size, mode))
                keep.append(i)
            except (OSError, SyntaxError, ValueError, Image.DecompressionBombError,
                    Image.DecompressionBombWarning) as e:
                bad.append(f"{f.name}: {type(e).__name__}")
    return arrays, keep, bad


@register_dataset("image_folder")
def image_folder(*, root: Path, download: bool = True, image_size: int = 32, mode: str = "auto",
                 test_fraction: float = 0.2, seed: int = 0) -> Dataset:
    """Your own images: class sub-folders (optionally under train/ and test/)."""
    if mode not in MODES:
        raise ConfigError(f"mode must be one of {', '.join(MODES)} (got {mode!r}).")
    if not 8 <= image_size <= 512:
        raise ConfigError(f"image_size must be between 8 and 512 pixels (got {image_size}).")
    if not 0 < test_fraction < 1:
        raise ConfigError(f"test_fraction must be between 0 and 1 (got {test_fraction}).")
    root = Path(root)
    layout = scan_folder(root)
    classes = list(next(iter(layout.values())))
    every = [f for split in layout.values() for files in split.values() for f in files]
    if mode == "auto":  # grey only if every image is grey
        mode = "L" if all(_is_grey(f) for f in every) else "RGB"
    check_size(len(every) * (1 if mode == "L" else 3) * image_size * image_size,
               f"{len(every):,} images at {image_size}x{image_size}")  # before decoding any of them

    splits: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
    notes: list[str] = []
    skipped: list[str] = []
    for split, by_class in layout.items():
        files = [f for files in by_class.values() for f in files]
        labels = [k for k, files in enumerate(by_class.values()) for _ in files]
        arrays, keep, bad = _decode(files, image_size, mode)
        skipped += bad
        if not arrays:
            raise DatasetUnavailable(f"None of the {len(files)} images in {root} could be decoded.")
        x = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()  # (N, C, H, W)
        y = torch.tensor([labels[i] for i in keep], dtype=torch.int64)
        splits[split] = (x, y)
    if skipped:
        notes.append(f"skipped {len(skipped)} unreadable image(s): {', '.join(skipped[:5])}"
                     + (" ..." if len(skipped) > 5 else ""))

    if "all" in splits:  # seeded, stratified split
        x, y = splits.pop("all")
        g = torch.Generator().manual_seed(seed)
        test_idx = []
        for k in range(len(classes)):
            idx = (y == k).nonzero().squeeze(1)
            idx = idx[torch.randperm(len(idx), generator=g)]
            n_test = int(round(len(idx) * test_fraction)) if len(idx) > 1 else 0
            test_idx.append(idx[:n_test])
        test_idx = torch.cat(test_idx)
        is_test = torch.zeros(len(y), dtype=torch.bool)
        is_test[test_idx] = True
        if is_test.all() or not is_test.any():
            raise DatasetUnavailable(f"{root} has too few images to hold out a test split; add more images.")
        splits = {"train": (x[~is_test], y[~is_test]), "test": (x[is_test], y[is_test])}
        notes.append(f"held out {int(is_test.sum())} images ({test_fraction:.0%} per class) as the test split")
    (tx, ty), (vx, vy) = splits["train"], splits["test"]
    # Files come class by class; shuffle once (seeded) so "the first N images" has every class.
    order = torch.randperm(len(ty), generator=torch.Generator().manual_seed(seed))
    tx, ty = tx[order], ty[order]
    return Dataset("image_folder", classes, tx, ty, vx, vy, notes=notes)
