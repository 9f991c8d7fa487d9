"""A tiny name -> callable registry, shared by data sets, models, augmentations,
initialisations, optimisers and schedules (torchvision's register_model pattern).

An entry may carry facts about itself, given when it registers (``@MODELS.register("mlp",
task="classify")``): ``facts(name)`` reads them and ``names(task="classify")`` filters on them,
so no list elsewhere has to repeat which entries are which."""

from __future__ import annotations

import inspect
from typing import Any, Callable, Generic, Mapping, TypeVar

from .errors import ConfigError

__all__ = ["Registry", "PARAM_RANGES"]

F = TypeVar("F")  # an entry: a function or class (most registries), or an object (the job kinds)

# The range of a numeric parameter, by its name, for the widget that sets it: (low, high, step), or
# (low, high, "log") for a value that spans decades. An entry that means something else by a name
# says so when it registers (``ranges={"std": (1e-4, 1.0, "log")}``).
PARAM_RANGES: dict[str, tuple] = {
    "p": (0.0, 1.0, 0.05),
    "dropout": (0.0, 0.9, 0.05),
    "conv_dropout": (0.0, 0.9, 0.05),
    "flat_dropout": (0.0, 0.9, 0.05),
    "kernel": (1, 9, 2),
    "code": (2, 256, 2),
    "width": (4, 128, 4),
    "stages": (1, 4, 1),
    "blocks": (1, 4, 1),
    "k": (0, 20, 1),
    "backbone_lr_scale": (0.0, 1.0, 0.05),
    "image_size": (0, 512, 16),
    "brightness": (0.0, 1.0, 0.05),
    "contrast": (0.0, 1.0, 0.05),
    "saturation": (0.0, 1.0, 0.05),
    "size": (0.05, 0.9, 0.05),
    "std": (0.0, 1.0, 0.01),
    "degrees": (0.0, 180.0, 1.0),
    "min": (0.3, 1.0, 0.01),
    "max": (1.0, 2.0, 0.01),
    "fraction": (0.0, 0.5, 0.01),
    "value": (-1.0, 1.0, 0.01),
    "mean": (-1.0, 1.0, 0.01),
    "gain": (0.0, 5.0, 0.05),
    "a": (-1.0, 1.0, 0.01),
    "b": (-1.0, 1.0, 0.01),
    "weight_decay": (0.0, 0.1, 0.0005),
    "rho": (0.0, 0.999, 0.001),
    "beta1": (0.0, 0.999, 0.001),
    "beta2": (0.9, 0.9999, 0.0001),
    "momentum": (0.0, 0.99, 0.01),
    "alpha": (0.9, 0.999, 0.001),
    "min_lr_ratio": (0.0, 0.5, 0.01),
    "pct_start": (0.05, 0.95, 0.05),
    "div_factor": (1.0, 100.0, 1.0),
    "final_div_factor": (1.0, 1e5, "log"),
    "every_epochs": (0.5, 20.0, 0.5),
    "gamma": (0.01, 1.0, 0.01),
    # the cells of a layer table (one row per conv block or fully connected layer: playground.models.cnn)
    "channels": (1, 1024, 1),
    "units": (1, 4096, 1),
}


class Registry(Generic[F]):
    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, F] = {}
        self._facts: dict[str, dict[str, Any]] = {}

    def register(self, name: str, **facts: Any) -> Callable[[F], F]:
        def wrap(fn: F) -> F:
            if name in self._items:
                raise RuntimeError(f"{self.kind} {name!r} is registered twice")
            self._items[name] = fn
            self._facts[name] = dict(facts)
            return fn

        return wrap

    def names(self, **where: Any) -> list[str]:
        """Sorted names; keyword arguments keep the entries whose facts have those values."""
        return sorted(n for n in self._items if all(self._facts[n].get(k) == v for k, v in where.items()))

    def facts(self, name: str) -> dict[str, Any]:
        """What the entry said about itself when it registered (a copy)."""
        self.check(name)
        return dict(self._facts[name])

    def check(self, name: str) -> None:
        """Raise a ConfigError listing the choices when ``name`` is not registered."""
        self.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def get(self, name: str) -> F:
        try:
            return self._items[name]
        except (KeyError, TypeError):  # TypeError: an unhashable name from a config file
            raise ConfigError(f"Unknown {self.kind} {name!r}. Choose one of: {', '.join(self.names())}.") from None

    def doc(self, name: str) -> str:
        """First line of the entry's docstring, for listings and tooltips."""
        return (inspect.getdoc(self.get(name)) or "").split("\n")[0]

    def call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """Call an entry, dropping ``None`` kwargs (so unset UI values fall back to
        the defaults, as timm's create_model does) and rejecting unknown ones with
        the list of accepted parameters."""
        fn = self.get(name)
        if not callable(fn):
            raise ConfigError(f"{self.kind} {name!r} is not something to call: use it directly.")
        kwargs = {k: v for k, v in kwargs.items() if v is not None}
        params = inspect.signature(fn).parameters
        if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
            accepted = [
                p
                for p, v in params.items()
                if v.kind is v.KEYWORD_ONLY or (v.kind is v.POSITIONAL_OR_KEYWORD and v.default is not v.empty)
            ]
            unknown = sorted(set(kwargs) - set(params))
            if unknown:
                raise ConfigError(
                    f"{self.kind} {name!r} has no parameter {', '.join(map(repr, unknown))}. "
                    f"Accepted: {', '.join(accepted) or 'none'}."
                )
        try:
            return fn(*args, **kwargs)
        except TypeError as e:  # a list where a number belongs, text for a number (config files, URLs)
            raise ConfigError(f"{self.kind} {name!r}: a parameter has the wrong type ({e}).") from None

    def check_reserved(self, params: Mapping[str, Any], reserved: tuple[str, ...], why: str) -> None:
        clash = sorted(set(params) & set(reserved))
        if clash:
            raise ConfigError(f"{', '.join(clash)} cannot be set as {self.kind} parameters: {why}.")

    def ranges(self, name: str) -> dict[str, tuple]:
        """The widget range of each numeric parameter of ``name`` (its own ``ranges`` fact, else PARAM_RANGES);
        a (low, high) pair of numbers has one when its entry gives it (a range slider)."""
        own = self.facts(name).get("ranges", {})
        number = lambda d: isinstance(d, (int, float)) and not isinstance(d, bool)
        pair = lambda d: isinstance(d, tuple) and len(d) == 2 and all(map(number, d))
        return {
            p: own.get(p) or PARAM_RANGES[p]
            for p, d in self.params(name).items()
            if (number(d) and (p in own or p in PARAM_RANGES)) or (pair(d) and p in own)
        }

    def choices(self, name: str) -> dict[str, list]:
        """The allowed values of each text parameter of ``name`` that takes one of a fixed set (its own
        ``choices`` fact): a page offers a select box of exactly these, never a list found by the name."""
        return {p: list(v) for p, v in self.facts(name).get("choices", {}).items()}

    def params(self, name: str) -> dict[str, Any]:
        """Keyword parameters with their defaults (for the CLI's list and UI forms)."""
        fn = self.get(name)
        if not callable(fn):  # an object entry (a job kind) takes no parameters
            return {}
        sig = inspect.signature(fn)
        return {p.name: p.default for p in sig.parameters.values() if p.default is not inspect.Parameter.empty}

    def parse_spec(self, spec: str) -> tuple[str, dict[str, Any]]:
        """``"name:v1,k=v2"`` -> (name, params): positional values fill the entry's parameters in order.
        Numbers are int or float; ``a/b`` is a range [a, b]. Shared by augmentation and noise specs."""
        if not isinstance(spec, str):
            raise ConfigError(f"A {self.kind} is text such as 'name:value' (got {spec!r}).")
        name, _, rest = spec.strip().partition(":")
        self.check(name)
        defaults = self.params(name)
        positional = list(defaults)

        def value(key: str, text: str) -> Any:  # a number, or a word where the parameter is a word
            return text.strip() if isinstance(defaults.get(key), str) else self._number(text, spec)

        params: dict[str, Any] = {}
        for i, part in enumerate(p for p in rest.split(",") if p.strip()):
            if "=" in part:
                k, v = part.split("=", 1)
                params[k.strip()] = value(k.strip(), v)
            elif i < len(positional):
                params[positional[i]] = value(positional[i], part)
            else:
                raise ConfigError(f"Too many values in {self.kind} {spec!r}; use name=value.")
        return name, params

    def _number(self, text: str, spec: str) -> Any:
        text = text.strip()
        if "/" in text:  # ranges: scale=0.8/1.2
            return [self._number(t, spec) for t in text.split("/")]
        for kind in (int, float):
            try:
                return kind(text)
            except ValueError:
                pass
        raise ConfigError(f"{self.kind.capitalize()} {spec!r}: {text!r} is not a number.")
