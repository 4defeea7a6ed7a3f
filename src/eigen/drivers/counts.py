"""Counts in the Qiskit convention: classical bit 0 is the rightmost character.

Keys are plain bitstrings over all classical bits of the circuit, without the spaces
Qiskit puts between classical registers.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import numpy.typing as npt

#: Up to this many classical bits, counts come from a histogram (np.bincount).
_BINCOUNT_MAX_BITS = 16


def from_hex(hex_counts: Mapping[str, int], num_clbits: int) -> dict[str, int]:
    """Convert qiskit-aer's raw counts (``{"0x3": 512}``) to bitstrings of ``num_clbits``."""
    fmt = f"0{num_clbits}b"
    return {format(int(key, 16), fmt): int(n) for key, n in hex_counts.items()}


def from_packed(packed: npt.NDArray[np.uint8], num_clbits: int) -> dict[str, int]:
    """Count shots given as rows of bytes, bit ``k`` of a row (little-endian) = clbit ``k``.

    This is numpy's ``packbits(..., bitorder="little")`` layout and stim's ``bit_packed``
    sample layout.
    """
    if num_clbits == 0:
        return {}
    fmt = f"0{num_clbits}b"
    shots, width = packed.shape
    if num_clbits <= _BINCOUNT_MAX_BITS:  # small registers: histogram, no sort
        if width == 1:
            values = packed[:, 0]
        else:
            words = np.zeros((shots, 2), dtype=np.uint8)
            words[:, :width] = packed
            values = words.view("<u2").ravel()
        histogram = np.bincount(values)
        seen = np.flatnonzero(histogram)
        return dict(zip([format(v, fmt) for v in seen.tolist()], histogram[seen].tolist(), strict=True))
    if num_clbits <= 64:
        words = np.zeros((shots, 8), dtype=np.uint8)
        words[:, :width] = packed
        uniques, counts = np.unique(words.view("<u8").ravel(), return_counts=True)
        return dict(zip([format(v, fmt) for v in uniques.tolist()], counts.tolist(), strict=True))
    rows, counts = np.unique(packed, axis=0, return_counts=True)
    return {
        format(int.from_bytes(row.tobytes(), "little"), fmt): int(n)
        for row, n in zip(rows, counts, strict=True)
    }


def from_bits(bits: npt.NDArray[np.bool_]) -> dict[str, int]:
    """Count shots given as a boolean array ``(shots, num_clbits)``; column ``k`` = clbit ``k``."""
    return from_packed(np.packbits(bits, axis=1, bitorder="little"), bits.shape[1])
