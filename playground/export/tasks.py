"""What the standalone script writes for each task: ``make_batch`` (a batch of images in [0, 1] -> the
model's input before normalisation, and its target), ``loss_fn`` and ``evaluate`` (-> loss and the task's
figure), with the same arithmetic and random draws as the playground's task (``playground.train.tasks``,
``playground.train.reconstruct``): a reconstruct run's corruption is the playground's noise code, drawn from
the run's generator, and its test images are corrupted by a generator seeded as the playground seeds it.
"""

from __future__ import annotations

import inspect
import textwrap
from typing import Callable

from ..config import RunConfig
from ..data import noise as noise_module
from ..errors import ExportError
from ..train import reconstruct as recon_module

__all__ = ["TASK_EMITTERS", "task_source"]


def _classify(config: RunConfig) -> str:
    ls = config.optim.label_smoothing
    return textwrap.dedent(f'''\
        METRIC = "accuracy"


        def make_batch(x, y, g):
            """Images in [0, 1] and labels -> the model's input (before normalisation) and its target."""
            return x, y


        def loss_fn(out, target):
            return F.cross_entropy(out, target, label_smoothing={ls!r})


        @torch.no_grad()
        def evaluate(model, x_u8, y, mean, std, device, channels_last, batch_size={config.train.eval_batch_size}):
            """Mean cross-entropy and accuracy on a split."""
            model.eval()
            correct, loss = 0, torch.zeros((), device=device)
            for i in range(0, len(y), batch_size):
                out = model(to_input(x_u8[i : i + batch_size], mean, std, device, channels_last))
                loss += F.cross_entropy(out, y[i : i + batch_size].to(device), reduction="sum")
                correct += (out.argmax(1).cpu() == y[i : i + batch_size]).sum().item()
            model.train()
            return loss.item() / len(y), correct / len(y)
        ''')


# Each of the playground's corruptions as a call of its functional form (the ``x`` and ``g`` of the script).
_NOISE_CALLS: dict[str, Callable[..., str]] = {
    "_Identity": lambda: "x",
    "_Gaussian": lambda std, clip: f"add_gaussian_noise(x, {std!r}, g, {clip!r})",
    "_SaltPepper": lambda p, salt: f"add_salt_pepper_noise(x, {p!r}, g, {salt!r})",
    "_Mask": lambda fraction: f"add_mask_noise(x, {fraction!r}, g)",
}


def _corruption(name: str, specs) -> str:
    steps = noise_module.build_noise(specs).steps
    lines = [f"def {name}(x, g):", f'    """The corruption {", ".join(specs) or "none"}, drawn from g."""']
    for step in steps:
        kind = type(step).__name__
        if kind not in _NOISE_CALLS:
            raise ExportError(f"The standalone script does not know the corruption {kind} yet.")
        lines.append(f"    x = {_NOISE_CALLS[kind](**vars(step))}")
    return "\n".join(lines + ["    return x"])


def _reconstruct(config: RunConfig) -> str:
    d, t = config.data, config.train
    funcs: list[Callable[..., object]] = [
        noise_module.add_gaussian_noise,
        noise_module._pixel_draws,
        noise_module.add_salt_pepper_noise,
        noise_module.add_mask_noise,
        recon_module.psnr,
    ]
    source = "\n\n\n".join(inspect.getsource(f).rstrip() for f in funcs)
    loss = "F.binary_cross_entropy(out.float(), target)" if t.recon_loss == "bce" else "F.mse_loss(out.float(), target)"
    per_image = (
        "F.binary_cross_entropy(out, clean, reduction='none').flatten(1).mean(1)"
        if t.recon_loss == "bce"
        else "(out - clean).square().flatten(1).mean(1)"
    )
    return f'''METRIC = "PSNR (dB)"
MAX_PSNR = {recon_module.MAX_PSNR!r}


# The playground's corruption code (playground.data.noise) and PSNR, as it runs them.
{source}


{_corruption("corrupt", d.noise)}


{_corruption("corrupt_test", d.test_noise if d.test_noise else d.noise)}


def make_batch(x, y, g):
    """Clean images in [0, 1] -> the corrupted input (before normalisation) and the clean target."""
    return corrupt(x, g), x


def loss_fn(out, target):
    return {loss}


@torch.no_grad()
def evaluate(model, x_u8, y, mean, std, device, channels_last, batch_size={t.eval_batch_size}):
    """Mean loss and PSNR of the reconstructions of a split's images, corrupted by a generator seeded from
    the run's seed (the same corrupted images every epoch)."""
    model.eval()
    g = torch.Generator(device=device).manual_seed({t.seed} + {recon_module.TEST_SEED_OFFSET})
    sums = torch.zeros(2, device=device, dtype=torch.float64)
    for i in range(0, len(x_u8), batch_size):
        clean = x_u8[i : i + batch_size].to(device).float() / 255
        noisy = corrupt_test(clean, g)
        x = (noisy - mean) / std
        out = model(x.contiguous(memory_format=torch.channels_last) if channels_last else x).float()
        sums += torch.stack([({per_image}).sum(), psnr(out, clean).sum()]).double()
    model.train()
    loss, value = (sums / max(len(x_u8), 1)).tolist()
    return loss, value
'''


TASK_EMITTERS: dict[str, Callable[[RunConfig], str]] = {"classify": _classify, "reconstruct": _reconstruct}


def task_source(config: RunConfig) -> str:
    task = config.train.task
    if task not in TASK_EMITTERS:
        raise ExportError(
            f"The standalone script covers the tasks {', '.join(TASK_EMITTERS)}; this run's task is {task!r}."
        )
    return TASK_EMITTERS[task](config).rstrip()
