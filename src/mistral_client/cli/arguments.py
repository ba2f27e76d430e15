"""What a flag's value may be (ports, counts, seconds, a temperature), and the flags both commands take.

Bounds the API sets are read from the client's request schema, where they are written once, when a
flag needs them (reading the schema loads msgspec: ``--help`` and ``--version`` do without).
"""

from __future__ import annotations

import argparse
import functools
import math
import textwrap

__all__ = [
    "TEMPERATURE_RANGE",
    "Wrapping",
    "temperature_range",
    "add_engine_flags",
    "byte_count",
    "count",
    "max_tokens",
    "port",
    "seconds",
    "temperature",
    "threads",
]


class Wrapping(argparse.HelpFormatter):
    """argparse's wrapping at the terminal's width, but never inside a flag or header name
    (``x-mock-disconnect-after`` stays whole), and with the description's blank lines kept."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help
        if text is not None and TEMPERATURE_RANGE in text:
            text = text.replace(TEMPERATURE_RANGE, temperature_range())
        return text

    def _split_lines(self, text: str, width: int) -> list[str]:
        return textwrap.wrap(" ".join(text.split()), width, break_on_hyphens=False)

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        return "\n\n".join(
            textwrap.fill(
                " ".join(part.split()), width, initial_indent=indent, subsequent_indent=indent, break_on_hyphens=False
            )
            for part in text.split("\n\n")
        )


@functools.cache
def _bounds(field: str) -> tuple[float, float]:
    """``(ge, le)`` of a number field of ``ChatCompletionRequest``; an infinity where a side is open."""
    import msgspec

    from .._wire.requests import ChatCompletionRequest

    # The field's type alone: inspecting the whole request (every message type) costs ~2 ms at startup.
    (annotated,) = (f.type for f in msgspec.structs.fields(ChatCompletionRequest) if f.name == field)
    field_type = msgspec.inspect.type_info(annotated)
    types = field_type.types if isinstance(field_type, msgspec.inspect.UnionType) else (field_type,)
    (number,) = (t for t in types if isinstance(t, msgspec.inspect.FloatType | msgspec.inspect.IntType))
    if number.gt is not None or number.lt is not None:
        raise TypeError(f"ChatCompletionRequest.{field}: the command line checks ge/le bounds only")
    return (-math.inf if number.ge is None else number.ge), (math.inf if number.le is None else number.le)


# Stands for the range in help texts until the help is shown (Wrapping puts the schema's in).
TEMPERATURE_RANGE = "{temperature range}"


def temperature_range() -> str:
    low, high = _bounds("temperature")
    return f"{low:g} to {high:g}"


def count(text: str) -> int:
    return _whole_number(text, minimum=0)


def max_tokens(text: str) -> int:
    # The API takes 0, but an answer of no tokens prints nothing: on a command line it is a mistake.
    return _whole_number(text, minimum=max(1, _bounds("max_tokens")[0]))


def threads(text: str) -> int:
    return _whole_number(text, minimum=1)


def _whole_number(text: str, *, minimum: float) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= {minimum:g}, got {text!r}") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"expected a whole number >= {minimum:g}, got {text!r}")
    return value


def byte_count(text: str) -> int:
    value = count(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number of bytes >= 1, got {text!r}")
    return value


def port(text: str) -> int:
    value = count(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"expected a port from 0 to 65535, got {text!r}")
    return value


def seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0 or value == math.inf:  # also refuses nan
        raise argparse.ArgumentTypeError(f"expected a number of seconds >= 0, got {text!r}")
    return value


def temperature(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan  # outside every range, whatever the schema's bounds
    low, high = _bounds("temperature")
    if not low <= value <= high:
        raise argparse.ArgumentTypeError(f"expected a number from {temperature_range()}, got {text!r}")
    return value


def add_engine_flags(command: argparse.ArgumentParser | argparse._ArgumentGroup, *, default_help: str) -> None:
    """``--engine`` and ``--model-path``: what writes the local server's answers (chat --local, and serve)."""
    command.add_argument(
        "--engine",
        choices=("llama", "template"),
        help="what writes the local server's answers: a real model run by llama.cpp (needs the local-model "
        f"extra) or deterministic text (default: {default_help})",
    )
    command.add_argument(
        "--model-path",
        metavar="GGUF",
        help="the GGUF chat model for --engine llama (default: SmolLM2-135M-Instruct, from the local-model extra)",
    )
    command.add_argument(
        "--threads",
        type=threads,
        metavar="N",
        help="CPU threads the model uses (--engine llama; default: half the cores write an answer, all of them "
        "read the prompt)",
    )
