"""Deterministic embedding vectors: the same model and text always give the same unit vector."""

from __future__ import annotations

import hashlib
import math
import random
from typing import Any

__all__ = ["embedding"]


def embedding(model: str, text: str, dimension: int, dtype: str) -> list[float] | list[int]:
    """The vector for ``text`` in ``dtype`` (float, int8, uint8, binary, ubinary).

    Always JSON numbers, whatever ``encoding_format`` asked: the spec's ``EmbeddingResponseData``
    (and the official SDKs' models, built from it) allow an array of numbers and nothing else.
    """
    key = hashlib.sha256(f"{model}\0{text}".encode()).digest()
    rng = random.Random(int.from_bytes(key[:8], "big"))
    values = [rng.gauss(0.0, 1.0) for _ in range(dimension)]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    unit = [v / norm for v in values]
    vector: list[Any]
    if dtype == "float":
        vector = unit
    elif dtype in ("int8", "uint8"):
        # Unit vector components are small: scale so that a typical one uses the range.
        scale = 127 * math.sqrt(dimension) / 4
        signed = [max(-128, min(127, round(v * scale))) for v in unit]
        vector = signed if dtype == "int8" else [v + 128 for v in signed]
    else:
        # One bit per dimension (set when positive), eight to a byte.
        bits = [1 if v > 0 else 0 for v in unit] + [0] * (-dimension % 8)
        octets = [int("".join(map(str, bits[i : i + 8])), 2) for i in range(0, len(bits), 8)]
        vector = octets if dtype == "ubinary" else [o - 256 if o > 127 else o for o in octets]
    return vector
