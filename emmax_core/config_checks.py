"""The checks every configuration value passes, and the base class of the configuration's sections.

A bad value raises ``ValueError`` naming the parameter and the fix; an unknown key names the nearest valid key;
YAML values are checked against the field's type (``5e-4`` read as a string becomes a float). Used by
:mod:`emmax_core.config`.

Taught in: notebooks/02_encoders_and_init.ipynb (presets) and book/reliability.md (the error messages).
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from typing import Any


def check(ok: bool, name: str, value: Any, fix: str) -> None:
    """Raise ``ValueError("{name}={value!r} is invalid: {fix}")`` unless ``ok``."""
    if not ok:
        raise ValueError(f"{name}={value!r} is invalid: {fix}")


def check_choice(name: str, value: Any, choices: tuple) -> None:
    """``value`` must be one of ``choices``."""
    check(value in choices, name, value, f"use one of {list(choices)}")


def unknown_key_error(kind: str, key: str, valid: list[str]) -> ValueError:
    """The error for an unknown key: the nearest valid name (a typo's likely fix), then all of them."""
    near = difflib.get_close_matches(key.rpartition(".")[2], valid, n=1)
    maybe = f"did you mean {near[0]!r}? " if near else ""
    return ValueError(f"unknown {kind} {key!r}: {maybe}use one of the valid keys: {', '.join(valid)}")


def check_positive(obj: Any, *names: str, allow_zero: bool = False) -> None:
    """Each attribute ``names`` of ``obj`` must be > 0 (or >= 0 with ``allow_zero``)."""
    for name in names:
        value = getattr(obj, name)
        check(value > 0 or (allow_zero and value == 0), name, value, "use a number >= 0" if allow_zero else "use > 0")


def coerce(name: str, value: Any, hint: Any) -> Any:
    """Check one YAML value against a field's type hint; accept `5e-4` strings and lists for tuples."""
    if isinstance(hint, types.UnionType):  # `X | None`
        if value is None:
            return None
        hint = next(a for a in typing.get_args(hint) if a is not type(None))
    if typing.get_origin(hint) is tuple:
        ok = isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value)
        check(ok, name, value, "use a list of strings (or null)")
        return tuple(value)
    if hint is float and isinstance(value, str):
        try:
            value = float(value)  # PyYAML reads `5e-4` (no dot) as a string
        except ValueError:
            pass
    kinds = {bool: (bool,), int: (int,), float: (int, float), str: (str,)}[hint]
    ok = isinstance(value, kinds) and (hint is bool or not isinstance(value, bool))
    check(ok, name, value, f"use a value of type {hint.__name__}")
    return float(value) if hint is float else value


class Section:
    """Shared dict conversion and validated `replace` for the config sections."""

    def to_dict(self) -> dict[str, Any]:
        """Return a plain, YAML-ready dict (tuples become lists)."""
        return {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls, values: dict[str, Any], prefix: str = ""):
        """Build the section from a dict; unknown keys raise `ValueError` listing the valid keys."""
        check(isinstance(values, dict), prefix.rstrip(".") or cls.__name__, values, "use a mapping of keys to values")
        hints = typing.get_type_hints(cls)
        valid = [f.name for f in dataclasses.fields(cls)]
        unknown = [k for k in values if k not in valid]
        if unknown:
            raise unknown_key_error(f"{cls.__name__} key", prefix + unknown[0], valid)
        return cls(**{k: coerce(prefix + k, v, hints[k]) for k, v in values.items()})

    def replace(self, **changes: Any):
        """Return a copy with `changes` applied (validated, unknown names rejected)."""
        return type(self).from_dict({**self.to_dict(), **changes})


def _plain(value: Any) -> Any:
    if isinstance(value, Section):
        return value.to_dict()
    return list(value) if isinstance(value, tuple) else value
