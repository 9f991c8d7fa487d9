"""Memory the server's own passes take, each in a fresh process (ru_maxrss before and after):

    python benchmarks/server_bounds.py inside [--image-size 224]   # the Inside page's predictions on a
        resnet18 transfer run (random weights) over the built-in shapes' test images, at PLAYGROUND_INSIDE_MB
    python benchmarks/server_bounds.py pca [--fit-mb 48]           # the PCA baseline's fit on 50,000
        CIFAR-sized random images (--fit-mb 100000: the whole set, as before the bound)

Figures in docs/BENCHMARKS.md ("bounded in the server")."""

from __future__ import annotations

import argparse
import resource
import sys
import time


def _rss() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def inside(image_size: int) -> None:
    from playground import inside as ins
    from playground.config import DataConfig, ModelConfig, RunConfig
    from playground.data import load_dataset
    from playground.models import build_model

    data = load_dataset("shapes")
    params = {"backbone": "resnet18", "weights": "none", "image_size": image_size}
    cfg = RunConfig(data=DataConfig(dataset="shapes"), model=ModelConfig(name="transfer", params=params))
    model = build_model("transfer", in_shape=data.shape, num_classes=data.num_classes, **params)
    tr = ins.Trained.from_model(model, data, config=cfg)
    n, batch = tr.plan(len(data.test_y), 1000)
    print(f"{len(data.test_y)} test images, {tr.image_bytes() / 2**20:.1f} MB per image: {n} in batches of {batch}")
    before, t = _rss(), time.time()
    p = ins.test_predictions(tr)
    print(f"passed {len(p['y'])} images in {time.time() - t:.1f} s; peak RSS {before:.0f} -> {_rss():.0f} MB")


def pca(fit_mb: int) -> None:
    import torch

    from playground.autoencode.pca import pca_fit

    x = torch.randint(0, 256, (50000, 3, 32, 32), dtype=torch.uint8)
    before, t = _rss(), time.time()
    pca_fit(x, 32, fit_mb=fit_mb)
    print(f"fit_mb={fit_mb}: {time.time() - t:.1f} s, peak RSS {before:.0f} -> {_rss():.0f} MB")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("what", choices=["inside", "pca"])
    ap.add_argument("--image-size", type=int, default=224)
    ap.add_argument("--fit-mb", type=int, default=48)
    args = ap.parse_args()
    inside(args.image_size) if args.what == "inside" else pca(args.fit_mb)
    return 0


if __name__ == "__main__":
    sys.exit(main())
