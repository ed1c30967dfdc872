"""Mixer options as the trainer takes them: parsed and checked by the types the mixer classes declare.

Each mixer class declares its options as keyword-only arguments with a type
(``lam: float``, ``learn_lam: bool``, ``lrr_bounds: tuple[float, float]``, ``head_dim: int | None``);
:func:`option_kinds` reads those signatures, so a new option needs nothing here. The command
line's ``--mixer-option NAME=VALUE`` is parsed by that type (:func:`parse_mixer_option`:
``learn_lam=false`` is False), and a value from Python or a saved ``config.json`` is refused
when it is of another type (:func:`check_option_types`: ``"False"`` is no bool).
:func:`check_mixer_options` refuses the options a mixer does not take, and those the trainer
sets itself (:data:`NOT_MIXER_OPTIONS`).
"""

from __future__ import annotations

import argparse
import functools
import inspect
import math
import numbers
import re
from dataclasses import dataclass

from .mixers import MultiHeadMixer, mixer_options

__all__ = ["NOT_MIXER_OPTIONS", "OptionKind", "check_mixer_options", "check_option_types", "option_kinds",
           "parse_mixer_option"]

NOT_MIXER_OPTIONS = {
    "rotary": "use --positions rotary",
    "bias": "the trainer's models have no biases: ModelConfig.bias is False",
}
"""Options of the mixer classes that the trainer sets itself, with what to do instead."""


@dataclass(frozen=True)
class OptionKind:
    """A mixer option's declared type: ``bool``, ``int``, ``float``, ``str`` or ``tuple[float, ...]``, or None."""

    base: str
    items: int = 0  # numbers in a tuple
    optional: bool = False

    @classmethod
    def from_annotation(cls, annotation: str) -> OptionKind | None:
        """The kind of an annotation as written (``"int | None"``, ``"tuple[float, float]"``); None if unknown."""
        parts = [part.strip() for part in annotation.split("|")]
        optional = "None" in parts
        rest = [part for part in parts if part != "None"]
        if len(rest) != 1:
            return None
        tuple_of = re.fullmatch(r"tuple\[(float(?:, float)*)\]", rest[0])
        if tuple_of:
            return cls("tuple", items=tuple_of.group(1).count("float"), optional=optional)
        return cls(rest[0], optional=optional) if rest[0] in ("bool", "int", "float", "str") else None

    def describe(self, text: bool) -> str:
        """What the option takes, as command-line ``text`` or as a Python / JSON value."""
        words = {"bool": "true or false (or 1 or 0)" if text else "true or false (a bool)",
                 "int": "an integer", "float": "a finite number", "str": "a word",
                 "tuple": f"{self.items} numbers, as [a,b] or a,b" if text else f"a list of {self.items} numbers"}
        return words[self.base] + (" or none" if self.optional else "")

    def parse(self, name: str, text: str) -> object:
        """The value of ``--mixer-option NAME=TEXT``; ValueError saying what the option takes."""
        word = text.strip()
        if self.optional and word.lower() in ("none", "null"):
            return None
        value: object = None
        if self.base == "bool":
            value = {"true": True, "1": True, "false": False, "0": False}.get(word.lower())
        elif self.base == "int" and re.fullmatch(r"[+-]?\d+", word):
            value = int(word)
        elif self.base == "float":
            value = _finite(word)
        elif self.base == "str":
            value = text
        elif self.base == "tuple":
            numbers_ = [_finite(item) for item in re.sub(r"^[\[(]|[\])]$", "", word).split(",")]
            value = numbers_ if len(numbers_) == self.items and None not in numbers_ else None
        if value is None:
            raise ValueError(f"mixer option {name} takes {self.describe(text=True)}; got {text!r}")
        return value

    def check(self, name: str, value: object) -> None:
        """Refuse a value (from Python or a saved config.json) that is not of this kind: ``"False"`` is no bool."""
        if value is None and self.optional:
            return
        real = (lambda v: isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v))  # noqa: E731
        fits = {"bool": lambda: isinstance(value, bool),
                "int": lambda: isinstance(value, numbers.Integral) and not isinstance(value, bool),
                "float": lambda: real(value),
                "str": lambda: isinstance(value, str),
                "tuple": lambda: (isinstance(value, (list, tuple)) and len(value) == self.items
                                  and all(real(v) for v in value))}[self.base]()
        if not fits:
            raise ValueError(f"mixer option {name} must be {self.describe(text=False)}; "
                             f"got {value!r} ({type(value).__name__})")


def _finite(word: str) -> float | None:
    try:
        value = float(word)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


@functools.cache
def option_kinds() -> dict[str, OptionKind | None]:
    """Every mixer option's kind, read from the signatures of the library's mixer classes."""
    kinds: dict[str, OptionKind | None] = {}
    pending: list[type] = [MultiHeadMixer]
    while pending:
        cls = pending.pop()
        pending += cls.__subclasses__()
        if not cls.__module__.startswith("cubit_lite."):
            continue
        for name, parameter in inspect.signature(cls).parameters.items():
            if parameter.kind is parameter.KEYWORD_ONLY:
                annotation = parameter.annotation
                text = annotation if isinstance(annotation, str) else inspect.formatannotation(annotation)
                kinds[name] = OptionKind.from_annotation(text)
    return kinds


def check_option_types(options: object) -> dict:
    """Refuse option values of another type than the mixer classes declare for their names (``"False"`` for a
    bool); return ``options``."""
    if not isinstance(options, dict):
        raise ValueError(f"mixer_options must be a dict of option names and values; got {options!r}")
    for name, value in options.items():
        kind = option_kinds().get(name)
        if kind is not None:
            kind.check(name, value)
    return options


def check_mixer_options(mixer: str, options: object) -> None:
    """Refuse options that ``mixer`` does not take, or the trainer sets itself, and values of the wrong type."""
    options = check_option_types(options)
    settable = [name for name in mixer_options(mixer) if name not in NOT_MIXER_OPTIONS]
    unknown = sorted(set(options) - set(settable))
    if unknown:
        named = [f"{name} ({NOT_MIXER_OPTIONS[name]})" if name in NOT_MIXER_OPTIONS else name for name in unknown]
        raise ValueError(f"mixer {mixer!r} does not take option(s) {', '.join(named)}; "
                         f"its options are: {', '.join(settable)}")


def parse_mixer_option(text: str) -> tuple[str, object]:
    """``--mixer-option NAME=VALUE`` → ``(NAME, value)``, the value parsed by the type the mixer classes declare
    for NAME (:class:`OptionKind`: ``learn_lam=false`` is False, ``lrr_bounds=[1,3]`` two numbers). A NAME that no
    mixer takes is kept as text; :func:`check_mixer_options` refuses it once the mixer is known, with its options.

    An argparse ``type``: bad text raises ``argparse.ArgumentTypeError``, which argparse prints as the error.
    """
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"mixer options look like NAME=VALUE (e.g. lam=1e-3); got {text!r}")
    name, value = text.split("=", 1)
    name = name.strip()
    kind = option_kinds().get(name)
    if kind is None:
        return name, value
    try:
        return name, kind.parse(name, value)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
