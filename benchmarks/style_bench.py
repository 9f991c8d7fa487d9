"""Style-transfer benchmark: PyTorch's neural-style tutorial structure vs playground.style, side by side.

    .venv/bin/python benchmarks/style_bench.py [--size 256] [--steps 200] [--rounds 3] [--mem-size 512]
                                               [--mem-steps 120] [--skip-mem] [--device cpu] [--json]

Same images (astronaut as content, the generated mosaic as style, both square so the tutorial's
same-size rule holds), same layers (content conv_4, style conv_1..conv_5), same weights (1 / 1e6),
L-BFGS, the same number of loss evaluations, in one process:
- tutorial: the tutorial's code (Normalization module, ContentLoss/StyleLoss modules inserted into a
  copied Sequential with non-inplace ReLUs, targets computed while the Sequential is built, trimmed
  after the last loss, ``LBFGS.step(closure)`` with its default max_iter=20, clamping in the closure);
- ours: ``playground.style.stylize`` (cut network run as a loop, targets once under no_grad, in-place
  ReLUs, one L-BFGS iteration per step), with and without channels_last.
Rounds are interleaved (tutorial, ours, ours contiguous in every round); each is reported by its median and
spread over the rounds, the speedup by the median of the per-round ratios, with the load average before and
after.
The pixel difference between the tutorial's result and ours (contiguous) shows they compute the same thing.

Memory: a fresh subprocess runs the whole path (weights file read through the hub cache, --mem-size px,
--mem-steps steps, enough for L-BFGS to fill its 100-step history) and reports its peak RSS.

Weights: VGG19's ImageNet file when it is in the torch hub cache; otherwise (no network here) a file with
VGG19's real keys and shapes and random conv weights is written to a temporary TORCH_HOME. The timings
are the same either way (same shapes, same operations); the images are not art.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

from playground import style
from playground.style.features import save_random_weights

# -- the tutorial (https://pytorch.org/tutorials/advanced/neural_style_tutorial.html), as written ------


class ContentLoss(nn.Module):
    def __init__(self, target):
        super().__init__()
        self.target = target.detach()

    def forward(self, input):
        self.loss = F.mse_loss(input, self.target)
        return input


def tutorial_gram_matrix(input):
    a, b, c, d = input.size()
    features = input.view(a * b, c * d)
    G = torch.mm(features, features.t())
    return G.div(a * b * c * d)


class StyleLoss(nn.Module):
    def __init__(self, target_feature):
        super().__init__()
        self.target = tutorial_gram_matrix(target_feature).detach()

    def forward(self, input):
        G = tutorial_gram_matrix(input)
        self.loss = F.mse_loss(G, self.target)
        return input


class Normalization(nn.Module):
    def __init__(self, mean, std):
        super().__init__()
        self.mean = torch.tensor(mean).view(-1, 1, 1)
        self.std = torch.tensor(std).view(-1, 1, 1)

    def forward(self, img):
        return (img - self.mean) / self.std


def get_style_model_and_losses(
    cnn,
    mean,
    std,
    style_img,
    content_img,
    content_layers=("conv_4",),
    style_layers=("conv_1", "conv_2", "conv_3", "conv_4", "conv_5"),
):
    normalization = Normalization(mean, std)
    content_losses, style_losses = [], []
    model = nn.Sequential(normalization)
    i = 0
    for layer in cnn.children():
        if isinstance(layer, nn.Conv2d):
            i += 1
            name = f"conv_{i}"
        elif isinstance(layer, nn.ReLU):
            name = f"relu_{i}"
            layer = nn.ReLU(inplace=False)
        elif isinstance(layer, nn.MaxPool2d):
            name = f"pool_{i}"
        else:
            raise RuntimeError(f"Unrecognized layer: {layer.__class__.__name__}")
        model.add_module(name, layer)
        if name in content_layers:
            target = model(content_img).detach()
            content_loss = ContentLoss(target)
            model.add_module(f"content_loss_{i}", content_loss)
            content_losses.append(content_loss)
        if name in style_layers:
            target_feature = model(style_img).detach()
            style_loss = StyleLoss(target_feature)
            model.add_module(f"style_loss_{i}", style_loss)
            style_losses.append(style_loss)
    for i in range(len(model) - 1, -1, -1):
        if isinstance(model[i], (ContentLoss, StyleLoss)):
            break
    model = model[: (i + 1)]
    return model, style_losses, content_losses


def run_style_transfer(
    cnn, mean, std, content_img, style_img, input_img, num_steps=300, style_weight=1000000, content_weight=1
):
    model, style_losses, content_losses = get_style_model_and_losses(cnn, mean, std, style_img, content_img)
    input_img.requires_grad_(True)
    model.eval()
    model.requires_grad_(False)
    optimizer = torch.optim.LBFGS([input_img])
    run = [0]
    setup_done = time.perf_counter()
    while run[0] <= num_steps:

        def closure():
            with torch.no_grad():
                input_img.clamp_(0, 1)
            optimizer.zero_grad()
            model(input_img)
            style_score = sum(sl.loss for sl in style_losses) * style_weight
            content_score = sum(cl.loss for cl in content_losses) * content_weight
            loss = style_score + content_score
            loss.backward()
            run[0] += 1
            return style_score + content_score

        optimizer.step(closure)
    with torch.no_grad():
        input_img.clamp_(0, 1)
    return input_img, run[0], setup_done


# -- measurements -------------------------------------------------------------------------------------


def tutorial_round(net: style.FeatureNet, content, style_img, steps: int) -> dict:
    cnn = nn.Sequential(*[m for _, m in net.layers]).eval()  # vgg19.features with the loaded weights
    t0 = time.perf_counter()
    # The tutorial's loop runs `while run[0] <= num_steps`, and each LBFGS.step does up to 20 evaluations:
    # ask for steps - 20 so it stops at the first multiple of 20 at or above `steps` evaluations.
    out, evals, setup_done = run_style_transfer(
        cnn, net.mean, net.std, content, style_img, content.clone(), num_steps=steps - 20
    )
    t1 = time.perf_counter()
    return {"evals": evals, "setup_s": setup_done - t0, "loop_s": t1 - setup_done, "image": out.detach()}


def ours_round(net: style.FeatureNet, content, style_img, steps: int, channels_last: bool) -> dict:
    s = style.StyleSettings(
        size=max(content.shape[-2:]), steps=steps, device="cpu" if content.device.type == "cpu" else "cuda"
    )
    events = list(style.stylize(content, style_img, s, net=net, preview_every=0, channels_last=channels_last))
    start, final = events[0], events[-1]
    img = torch.from_numpy(final["image"]).permute(2, 0, 1)[None].float() / 255
    return {
        "evals": final["step"],
        "setup_s": start["setup_seconds"],
        "loop_s": final["seconds"],
        "image": img,
        "total": final["total"],
    }


def weights_home() -> tuple[str, str]:
    import hashlib

    from playground.weights import resolve_weights, weights_file

    path = weights_file(resolve_weights("vgg19"))
    if path.is_file():  # torchvision's file names carry the start of the file's sha256
        h = hashlib.sha256()
        with open(path, "rb") as f:
            while chunk := f.read(1 << 24):
                h.update(chunk)
        if h.hexdigest().startswith(path.stem.rsplit("-", 1)[-1]):
            return os.environ.get("TORCH_HOME", ""), "VGG19 ImageNet weights from the torch hub cache"
    home = tempfile.mkdtemp(prefix="style-bench-torch-")
    os.environ["TORCH_HOME"] = home
    save_random_weights("vgg19")
    return home, "random-init VGG19 weights (real architecture; no network for the ImageNet file); timing only"


def mem_child(size: int, steps: int) -> None:
    s = style.StyleSettings(size=size, steps=steps, device="cpu")
    final = list(style.stylize(None, None, s, preview_every=0))[-1]
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "peak_rss_mb": round(peak_mb),
                "size": final["size"],
                "steps": final["step"],
                "loop_s": final["seconds"],
                "s_per_step": final["seconds_per_step"],
                "status": final["kind"],
            }
        )
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--mem-size", type=int, default=512)
    ap.add_argument("--mem-steps", type=int, default=120)
    ap.add_argument("--skip-mem", action="store_true")
    ap.add_argument("--skip-speed", action="store_true")
    ap.add_argument("--mem-child", nargs=2, type=int, help=argparse.SUPPRESS)
    ap.add_argument("--threads", type=int, help="torch CPU threads (default: torch's own choice)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.mem_child:
        return mem_child(*args.mem_child)

    log = sys.stderr if args.json else sys.stdout
    home, weights_note = weights_home()
    result: dict = {
        "weights": weights_note,
        "threads": torch.get_num_threads(),
        "cpus": os.cpu_count(),
        "loadavg_before": [round(x, 2) for x in os.getloadavg()],
        "size": args.size,
        "steps": args.steps,
    }
    print(
        f"weights: {weights_note}\nthreads {result['threads']}, load average {result['loadavg_before']}",
        file=log,
        flush=True,
    )
    if not args.skip_speed:
        device = torch.device(args.device)
        net = style.feature_net("vgg19", device=device)
        content = style.load_image("astronaut", args.size).to(device)  # (1, 3, S, S)
        style_img = style.load_image("mosaic", args.size).to(device)
        rounds: dict[str, list[dict]] = {"tutorial": [], "ours": [], "ours_contiguous": []}
        for r in range(args.rounds):  # a b c in every round: a shared machine's drift falls on all three
            for name, fn in (
                ("tutorial", lambda: tutorial_round(net, content, style_img, args.steps)),
                ("ours", lambda: ours_round(net, content, style_img, args.steps, True)),
                ("ours_contiguous", lambda: ours_round(net, content, style_img, args.steps, False)),
            ):
                res = fn()
                rounds[name].append(res)
                print(
                    f"round {r + 1} {name:<16} {res['evals']} evaluations: loop {res['loop_s']:.1f} s "
                    f"({res['loop_s'] / res['evals'] * 1000:.0f} ms/step), setup {res['setup_s']:.2f} s",
                    file=log,
                    flush=True,
                )
        steps = {k: [v["loop_s"] / v["evals"] for v in rs] for k, rs in rounds.items()}
        ratios = [t / o for t, o in zip(steps["tutorial"], steps["ours"])]  # per round: the headline's median
        per = {k: statistics.median(v) for k, v in steps.items()}
        tut, ours, contig = (rounds[k][-1] for k in ("tutorial", "ours", "ours_contiguous"))
        result.update(
            {
                "tutorial_s_per_step": round(per["tutorial"], 4),
                "ours_s_per_step": round(per["ours"], 4),
                "ours_contiguous_s_per_step": round(per["ours_contiguous"], 4),
                "spread_s_per_step": {k: [round(min(v), 4), round(max(v), 4)] for k, v in steps.items()},
                "tutorial_s_at_steps": round(per["tutorial"] * args.steps, 1),
                "ours_s_at_steps": round(per["ours"] * args.steps, 1),
                "speedup": round(statistics.median(ratios), 3),
                "speedup_per_round": [round(x, 3) for x in ratios],
                "tutorial_setup_s": round(tut["setup_s"], 2),
                "ours_setup_s": round(ours["setup_s"], 2),
                "max_pixel_diff_tutorial_vs_ours_contiguous": round(
                    float((tut["image"].cpu() - contig["image"]).abs().max()), 4
                ),
                "loadavg_after": [round(x, 2) for x in os.getloadavg()],
            }
        )
        print(
            f"medians of {args.rounds} interleaved rounds; speedup per round "
            f"{', '.join(f'{x:.2f}' for x in ratios)}; load average at the end {result['loadavg_after']}",
            file=log,
            flush=True,
        )
        print(
            f"\n{args.size} px, {args.steps} L-BFGS steps on {device}:\n"
            f"  tutorial structure   {per['tutorial'] * 1000:6.0f} ms/step  -> "
            f"{result['tutorial_s_at_steps']:.1f} s\n"
            f"  ours, channels_last  {per['ours'] * 1000:6.0f} ms/step  -> {result['ours_s_at_steps']:.1f} s "
            f"({result['speedup']:.2f}x the tutorial)\n"
            f"  ours, contiguous     {per['ours_contiguous'] * 1000:6.0f} ms/step\n"
            f"  setup (model + targets): tutorial {tut['setup_s']:.2f} s, ours {ours['setup_s']:.2f} s\n"
            f"  largest pixel difference, tutorial vs ours (contiguous): "
            f"{result['max_pixel_diff_tutorial_vs_ours_contiguous']:.4f} (of 1.0)",
            file=log,
            flush=True,
        )
    if not args.skip_mem:
        env = {**os.environ, "TORCH_HOME": home} if home else dict(os.environ)
        p = subprocess.run(
            [
                sys.executable,
                __file__,
                "--mem-child",
                str(args.mem_size),
                str(args.mem_steps),
                *(["--threads", str(args.threads)] if args.threads else []),
            ],
            capture_output=True,
            text=True,
            env=env,
        )
        if p.returncode != 0:
            raise SystemExit(p.stderr[-2000:])
        mem = json.loads(p.stdout.strip().splitlines()[-1])
        result["memory"] = mem
        print(
            f"\n{args.mem_size} px, {mem['steps']} steps, whole path in a fresh process: peak RSS "
            f"{mem['peak_rss_mb']} MB ({mem['s_per_step'] * 1000:.0f} ms/step)",
            file=log,
            flush=True,
        )
    result["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    print(f"load average after: {result['loadavg_after']}", file=log, flush=True)
    if args.json:
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
