"""Run settings read from text of any origin (config.json, a link, a flag): JSON bounded in size, nesting
and number length, so crafted text gets a message, never a traceback; each section's values matched to
its dataclass fields' types (lists -> tuples, ints -> floats), an unknown field named."""

from __future__ import annotations

import json
import typing
from dataclasses import fields
from typing import Any, Mapping

from .errors import ConfigError

__all__ = ["MAX_JSON_CHARS", "MAX_JSON_DEPTH", "field_type", "loads_bounded", "plain", "section_from_dict"]

MAX_JSON_CHARS = 1 << 16  # a link carries at most 64 kB once unpacked; no run's settings need more
MAX_JSON_DEPTH = 8  # section -> params -> a list of blocks -> a block's dict is four
MAX_INT_DIGITS = 30


def loads_bounded(s: str) -> Any:
    """``json.loads`` of a run's settings, refused with a ConfigError when too long, too deep or with a
    number longer than any setting needs."""
    if len(s) > MAX_JSON_CHARS:
        raise ConfigError(
            f"The configuration is {len(s):,} characters long; at most {MAX_JSON_CHARS:,} are read. Use a shorter one."
        )
    try:
        d = json.loads(s, parse_int=_bounded_int)
    except RecursionError:
        raise ConfigError("The configuration is nested too deeply to be a run's settings.") from None
    except ValueError as e:  # JSONDecodeError, and ConfigError from _bounded_int (a ValueError too)
        if isinstance(e, ConfigError):
            raise
        raise ConfigError(f"The configuration is not valid JSON: {e}.") from None
    if _depth(d) > MAX_JSON_DEPTH:
        raise ConfigError(
            f"The configuration is nested more than {MAX_JSON_DEPTH} levels deep; run "
            "settings are not. Check the file or link."
        )
    return d


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise ConfigError(
            f"A number in the configuration has {len(text):,} digits; no setting needs more than {MAX_INT_DIGITS}."
        )
    return int(text)


def _depth(x: Any) -> int:
    if isinstance(x, dict):
        return 1 + max((_depth(v) for v in x.values()), default=0)
    if isinstance(x, list):
        return 1 + max((_depth(v) for v in x), default=0)
    return 0


def plain(x: Any) -> Any:
    """Tuples -> lists, mappings -> dicts, so the dict is JSON-ready."""
    if isinstance(x, Mapping):
        return {k: plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [plain(v) for v in x]
    return x


def section_from_dict(cls: type, d: Any, section: str) -> Any:
    if not isinstance(d, Mapping):
        raise ConfigError(f"Config section {section!r} must be an object.")
    known = {f.name: f for f in fields(cls)}
    unknown = set(d) - set(known)
    if unknown:
        raise ConfigError(f"Unknown field(s) in {section!r}: {', '.join(sorted(unknown))}. Known: {', '.join(known)}.")
    kwargs = {}
    for name, value in d.items():
        default = getattr(cls(), name)
        where = f"{section}.{name}"
        if default is None:  # optional fields: None, or a value of the declared type
            kwargs[name] = None if value is None else _coerce(value, _SAMPLE[field_type(cls, name)], where)
        else:
            kwargs[name] = _coerce(value, default, where)
    return cls(**kwargs)


_SAMPLE: dict[type, Any] = {int: 0, float: 0.0, str: "", bool: False}


def field_type(cls: type, name: str) -> type:
    """A config field's declared type, without its ``| None``: ``int | None`` -> int."""
    hint = typing.get_type_hints(cls)[name]
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    return args[0] if args else hint


def _coerce(value: Any, default: Any, where: str) -> Any:
    """Match JSON values to the field's type (lists -> tuples, ints -> floats)."""
    if isinstance(default, tuple):
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where} must be a list.")
        return tuple(value)
    if isinstance(default, Mapping):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where} must be an object.")
        return dict(value)
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ConfigError(f"{where} must be true or false.")
        return value
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where} must be a number (got {value!r}).")
        return float(value)
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where} must be an integer (got {value!r}).")
        return value
    if isinstance(default, str) and not isinstance(value, str):
        raise ConfigError(f"{where} must be text (got {value!r}).")
    return value
