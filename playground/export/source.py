"""Model source for the standalone script: Python (torch only) that rebuilds a model's
structure, so the original state dict loads strictly into it.

Standard torch.nn layers print their constructor arguments in extra_repr
("3, 16, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1), bias=False"), so they are
written as calls; a container of the playground's own (CNN, Residual, ...) becomes a
class with its children as constructor arguments and its forward() copied verbatim.
A transfer model is written as torchvision code instead (``transfer_source``).
"""

from __future__ import annotations

import inspect
import textwrap
from typing import Any

import torch.nn as nn

from ..errors import ExportError
from ..models.transfer import TransferNet

__all__ = ["model_source", "transfer_source", "NO_RUN_BACKBONE"]

NO_RUN_BACKBONE = (
    "The standalone script rebuilds torchvision backbones; this transfer run starts from another "
    "playground run, so it has no script yet. Download the model (.pt) or ONNX instead, or the "
    "source run's own script."
)

_SIMPLE = (int, float, bool, str, type(None))


def _is_torch_nn(mod: nn.Module) -> bool:
    return type(mod).__module__.startswith("torch.nn")


def _plain_attrs(mod: nn.Module) -> dict[str, Any]:
    return {
        k: v
        for k, v in vars(mod).items()
        if not k.startswith("_")
        and k != "training"
        and (isinstance(v, _SIMPLE) or (isinstance(v, tuple) and all(isinstance(e, _SIMPLE) for e in v)))
    }


class _SourceWriter:
    """Writes a module tree as one constructor expression, collecting the class
    definitions that expression needs (one per distinct structure)."""

    def __init__(self) -> None:
        self.classes: dict[tuple, str] = {}  # structure key -> class name
        self.class_src: list[str] = []

    def expr(self, mod: nn.Module, indent: int = 0) -> str:
        pad = " " * (indent + 4)
        children = list(mod.named_children())
        if callable(script_expr := getattr(mod, "script_expr", None)):  # a module that rebuilds itself (a backbone)
            return script_expr()
        if _is_torch_nn(mod):
            kind = type(mod).__name__
            if isinstance(mod, nn.Sequential):
                if all(n.isdigit() for n, _ in children):
                    inner = "".join(f"{pad}{self.expr(c, indent + 4)},\n" for _, c in children)
                    return f"nn.Sequential(\n{inner}{' ' * indent})" if children else "nn.Sequential()"
                inner = "".join(f"{pad}({n!r}, {self.expr(c, indent + 4)}),\n" for n, c in children)
                return f"nn.Sequential(OrderedDict([\n{inner}{' ' * indent}]))"
            if isinstance(mod, nn.ModuleList):
                inner = "".join(f"{pad}{self.expr(c, indent + 4)},\n" for _, c in children)
                return f"nn.ModuleList([\n{inner}{' ' * indent}])"
            if children:
                raise ExportError(f"{kind} (a torch.nn container) cannot be written as source yet.")
            return f"nn.{kind}({mod.extra_repr()})"
        return self._custom(mod, children, indent)

    def _custom(self, mod: nn.Module, children, indent: int) -> str:
        cls = type(mod)
        attrs = _plain_attrs(mod)
        params = {n: tuple(p.shape) for n, p in mod.named_parameters(recurse=False)}
        buffers = {n: (tuple(b.shape), b.dtype) for n, b in mod.named_buffers(recurse=False)}
        key = (cls, tuple(n for n, _ in children), tuple(sorted(attrs)), tuple(params), tuple(buffers))
        if key not in self.classes:
            name = cls.__name__ if cls.__name__ not in self.classes.values() else f"{cls.__name__}{len(self.classes)}"
            self.classes[key] = name
            self.class_src.append(self._class_def(name, cls, [n for n, _ in children], list(attrs), params, buffers))
        name = self.classes[key]
        pad = " " * (indent + 4)
        args = [f"{pad}{n}={self.expr(c, indent + 4)},\n" for n, c in children]
        args += [f"{pad}{k}={v!r},\n" for k, v in attrs.items()]
        return f"{name}(\n{''.join(args)}{' ' * indent})" if args else f"{name}()"

    @staticmethod
    def _class_def(name: str, cls: type, child_names: list[str], attr_names: list[str], params, buffers) -> str:
        # forward() and the helper methods it may call (encode, decode, ...), down the class's own MRO.
        methods: dict[str, str] = {}
        for base in cls.__mro__:
            if base is nn.Module or not issubclass(base, nn.Module) or base.__module__.startswith("torch."):
                break
            for k, v in vars(base).items():
                if inspect.isfunction(v) and k != "__init__" and k not in methods:
                    try:
                        methods[k] = textwrap.dedent(inspect.getsource(v))
                    except (OSError, TypeError):
                        raise ExportError(f"The source of {cls.__name__}.{k} is not available.") from None
        fwd = "\n".join(methods.values())
        args = ", ".join(child_names + attr_names)
        body = ["super().__init__()"]
        body += [f"self.{n} = {n}" for n in child_names + attr_names]
        body += [
            f"self.{n} = nn.Parameter(torch.empty({shape}))  # values come from the state dict"
            for n, shape in params.items()
        ]
        body += [
            f"self.register_buffer({n!r}, torch.empty({shape}, dtype={dtype}))" for n, (shape, dtype) in buffers.items()
        ]
        doc = (inspect.getdoc(cls) or "").split("\n")[0]
        lines = [f"class {name}(nn.Module):"]
        if doc:
            lines.append(f'    """{doc}"""')
        lines += ["", f"    def __init__(self{', ' + args if args else ''}):"]
        lines += [f"        {b}" for b in body]
        lines += [""] + [f"    {ln}" if ln else "" for ln in fwd.rstrip().split("\n")]
        return "\n".join(lines)


def model_source(model: nn.Module, func_name: str = "build_model") -> str:
    """Python source (torch only) with a ``build_model()`` that rebuilds ``model``'s structure."""
    w = _SourceWriter()
    body = w.expr(model, 4)
    parts = w.class_src + [f"def {func_name}() -> nn.Module:\n    return {body}"]
    return "\n\n\n".join(parts) + "\n"


def transfer_source(model: nn.Module) -> str:
    """A TransferNet as torchvision code: get_model + weights, the head replaced, blocks frozen.
    Its state-dict keys match the playground's (preprocess.*, backbone.*)."""
    if not isinstance(model, TransferNet):
        raise ExportError(f"A {type(model).__name__} is not a transfer model: export it as a script instead.")
    spec = model.spec
    if spec.arch.startswith("run:"):  # the backbone is one of the playground's own runs, not torchvision's
        raise ExportError(NO_RUN_BACKBONE)
    trainable = [n for label, names in spec.blocks if label in set(model.trainable_blocks()) for n in names]
    frozen = [n for label, names in spec.blocks if label not in set(model.trainable_blocks()) for n in names]
    if model.weights_source == "imagenet":
        weights = f'torchvision.models.get_model_weights("{spec.arch}").DEFAULT  # downloaded into the torch hub cache'
    else:
        weights = "None  # " + (
            "from scratch"
            if model.weights_source == "none"
            else "the source run's weights: load its model.pt state dict after building"
        )
    pre = model.preprocess
    return f'''class Preprocess(nn.Module):
    """[0, 1] images -> grey as RGB, resized to {pre.size} px, normalised as the weights' transforms do."""

    def __init__(self):
        super().__init__()
        self.size = {pre.size}
        self.register_buffer("mean", torch.tensor({[round(float(v), 6) for v in pre.mean.flatten()]}).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor({[round(float(v), 6) for v in pre.std.flatten()]}).view(1, 3, 1, 1))

    def forward(self, x):  # (B, C, H, W) -> (B, 3, size, size)
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        if tuple(x.shape[-2:]) != (self.size, self.size):
            x = v2.functional.resize(x, [self.size, self.size], antialias=True)
        return (x - self.mean) / self.std


class TransferNet(nn.Module):
    """{spec.arch} from torchvision, its final layer replaced by a new head."""

    def __init__(self):
        super().__init__()
        self.preprocess = Preprocess()
        weights = {weights}
        self.backbone = torchvision.models.get_model("{spec.arch}", weights=weights)
        old = self.backbone.get_submodule("{spec.head}")  # {model.replaced["old"]}
        self.backbone.set_submodule("{spec.head}", nn.Linear(old.in_features, {model.head.out_features}))
        # Freezing ({model.freeze_mode}): frozen blocks get no gradients and stay in eval mode.
        self.frozen = {frozen!r}
        self.backbone.requires_grad_(False)
        for name in {trainable!r} + ["{spec.head}"]:
            self.backbone.get_submodule(name).requires_grad_(True)

    def train(self, mode=True):
        super().train(mode)
        for name in self.frozen:
            self.backbone.get_submodule(name).eval()
        return self

    def param_groups(self, lr):
        """The head at lr, the trainable rest of the backbone at lr * {model.backbone_lr_scale}."""
        head = list(self.backbone.get_submodule("{spec.head}").parameters())
        ids = {{id(p) for p in head}}
        body = [p for p in self.backbone.parameters() if p.requires_grad and id(p) not in ids]
        rest = [{{"params": body, "lr": lr * {model.backbone_lr_scale}}}] if body else []
        return [{{"params": head, "lr": lr}}] + rest

    def forward(self, x):  # (B, C, H, W) in [0, 1] -> (B, classes)
        return self.backbone(self.preprocess(x))


def build_model() -> nn.Module:
    return TransferNet()
'''
