"""`image_folder`: a user's own images in ImageFolder layout, decoded once.

Layout: ``root/<class>/*.jpg`` (split by a seeded draw), or ``root/train/<class>/``
and ``root/test/<class>/``. Every header is read first (nothing decoded): an
image over the per-image pixel cap is skipped, and the folder is refused when
all its images together hold more than ``settings().max_folder_mp`` megapixels
(PLAYGROUND_MAX_FOLDER_MP). Then every image is decoded once by
``playground.images`` (JPEGs at reduced size), converted to one mode,
centre-cropped to a square and resized to one size. Corrupt, truncated and
unusable files are skipped and counted, with the reason; files that are not
images by extension (as torchvision's ImageFolder has it) are ignored. Reading
the headers and decoding together stop after PLAYGROUND_MAX_UNPACK_SECONDS
(a folder of many slow images cannot hold a server thread for minutes).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps

from ..errors import ConfigError, DatasetUnavailable
from ..image_errors import ImageError, PixelLimit, pixel_limit
from ..images import LARGE_PIXELS, Header, decode, decoding_slot, probe
from ..settings import settings
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
        raise DatasetUnavailable(f"{root} holds only one class; a classifier needs at least two class folders.")
    return layout


def _classes(folder: Path) -> dict[str, list[Path]]:
    out: dict[str, list[Path]] = {}
    for d in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
        out[d.name] = sorted(p for p in d.rglob("*") if _is_image(p))
    return out


def read_image(
    path: Path | str, size: int, mode: str, limit: PixelLimit | None = None, pixels: int | None = None
) -> np.ndarray:
    """Decode one image to a (size, size, C) uint8 array in ``mode`` ("RGB" or "L"): the one decoder
    (``playground.images``: EXIF, alpha over white, 16-bit scaled, the pixel cap; a JPEG at reduced
    size), then centre-cropped to a square and resized by Pillow (bilinear: for many small images,
    faster than a tensor each). Raises ImageError (a ConfigError)."""
    if pixels is None:
        pixels = int(probe(path, label=f"The image file {path}", limit=limit).megapixels * 1e6)
    with decoding_slot(pixels):  # a large one takes one of the process's slots (playground.images)
        im = decode(path, mode=mode, label=f"The image file {path}", at_least=size, limit=limit)
        arr = np.asarray(ImageOps.fit(im, (size, size), Image.Resampling.BILINEAR), dtype=np.uint8)
    return arr[:, :, None] if arr.ndim == 2 else arr


class _Clock:
    """The time budget of one folder's load (PLAYGROUND_MAX_UNPACK_SECONDS), checked between files."""

    def __init__(self, root: Path) -> None:
        self.root, self.budget = root, settings().max_unpack_seconds
        self.deadline = time.monotonic() + self.budget

    def check(self, done: int, total: int) -> None:
        if time.monotonic() > self.deadline:
            raise DatasetUnavailable(
                f"Reading the images in {self.root} took longer than {self.budget:g} s (PLAYGROUND_MAX_UNPACK_SECONDS;"
                f" {done:,} of {total:,} files read). Use fewer images, or downscale them first."
            )


MAX_PIXELS_PER_BYTE = 2048  # more pixels per byte of file than PNG's deflate can reach: a decompression bomb


def _bomb(f: Path, h: Header) -> bool:
    """A large image whose file is far smaller than any real picture of it (a one-colour WebP or GIF of 40
    megapixels in 2 kB): refused from its header and size, before decoding."""
    pixels = h.width * h.height
    return pixels > LARGE_PIXELS and f.stat().st_size * MAX_PIXELS_PER_BYTE < pixels


def _headers(files: list[Path], clock: _Clock) -> tuple[dict[Path, Header], list[str]]:
    """Every file's header (nothing decoded); the unusable ones (not images, over the pixel cap, bombs) as notes."""
    heads, bad, limit = {}, [], pixel_limit()
    for i, f in enumerate(files):
        clock.check(i, len(files))
        try:
            head = probe(f, label=f"The image file {f}", limit=limit)
        except ImageError as e:
            bad.append(f"{f.name} ({e.reason})")
            continue
        if _bomb(f, head):
            bad.append(
                f"{f.name} (likely decompression bomb: {head.megapixels:,.0f} megapixels in {f.stat().st_size:,} bytes)"
            )
        else:
            heads[f] = head
    return heads, bad


def _check_pixels(heads: dict[Path, Header], root: Path, size: int) -> None:
    """All the images of one folder (or unpacked archive) together, from their headers, before decoding."""
    cap = settings().max_folder_mp
    total = sum(h.megapixels for h in heads.values())
    if total > cap:
        raise DatasetUnavailable(
            f"The {len(heads):,} images in {root} hold {total:,.0f} megapixels together; this server decodes at "
            f"most {cap:,.0f} megapixels per folder or archive (PLAYGROUND_MAX_FOLDER_MP). Use fewer images, or "
            f"downscale them first (the data set keeps {size} x {size} pixels of each)."
        )


def _decode(
    files: list[Path], heads: dict[Path, Header], size: int, mode: str, clock: _Clock
) -> tuple[list[np.ndarray], list[int], list[str]]:
    arrays, keep, bad, limit = [], [], [], pixel_limit()
    for i, f in enumerate(files):
        clock.check(i, len(files))
        if f not in heads:
            continue  # refused from its header: already counted
        try:
            arrays.append(read_image(f, size, mode, limit, pixels=heads[f].width * heads[f].height))
            keep.append(i)
        except ImageError as e:
            bad.append(f"{f.name} ({e.reason})")
    return arrays, keep, bad


# The shape before any image is read: colour unless the folder is known to be grey (the gate's budget
# estimate takes the larger); the number of classes is the folder's, at most a few hundred in practice.
@register_dataset(
    "image_folder",
    choices={"mode": MODES},
    input_shape=lambda image_size=32, mode="auto", **_: (1 if mode == "L" else 3, image_size, image_size),
    num_classes=None,
)
def image_folder(
    *,
    root: Path,
    download: bool = True,
    image_size: int = 32,
    mode: str = "auto",
    test_fraction: float = 0.2,
    seed: int = 0,
) -> Dataset:
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
    clock = _Clock(root)
    heads, skipped = _headers(every, clock)
    if mode == "auto":  # grey only if every image is grey
        mode = "L" if heads and all(h.grey for h in heads.values()) else "RGB"
    check_size(
        len(every) * (1 if mode == "L" else 3) * image_size * image_size,
        f"{len(every):,} images at {image_size}x{image_size}",
    )  # before decoding any of them
    _check_pixels(heads, root, image_size)

    splits: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
    notes: list[str] = []
    for split, by_class in layout.items():
        files = [f for files in by_class.values() for f in files]
        labels = [k for k, files in enumerate(by_class.values()) for _ in files]
        arrays, keep, bad = _decode(files, heads, image_size, mode, clock)
        skipped += bad
        if not arrays:
            raise DatasetUnavailable(
                f"None of the {len(files)} images in {root} could be decoded: "
                f"{', '.join(skipped[:5])}{' ...' if len(skipped) > 5 else ''}."
            )
        x = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()  # (N, C, H, W)
        y = torch.tensor([labels[i] for i in keep], dtype=torch.int64)
        splits[split] = (x, y)
    if skipped:
        notes.append(
            f"skipped {len(skipped)} unreadable image(s): {', '.join(skipped[:5])}"
            + (" ..." if len(skipped) > 5 else "")
        )

    if "all" in splits:  # seeded, stratified split
        x, y = splits.pop("all")
        g = torch.Generator().manual_seed(seed)
        picked = []
        for k in range(len(classes)):
            idx = (y == k).nonzero().squeeze(1)
            idx = idx[torch.randperm(len(idx), generator=g)]
            n_test = int(round(len(idx) * test_fraction)) if len(idx) > 1 else 0
            picked.append(idx[:n_test])
        test_idx = torch.cat(picked)
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
