"""Noise models a job asks for by name (``noise_model="depolarizing:0.001"``).

A job names its noise model in ``spec.metadata.noise_model`` or in the program's
``@hybrid_program(noise_model=...)``; the job's setting wins. The name travels to the
driver as text in :class:`~eigen.models.compiled.ExecutionRequest` and the driver builds
the simulator's noise model from it.
"""

from __future__ import annotations

from typing import Any

NOISE_OPTION = "noise_model"


def chosen_noise_model(options: dict[str, str], decorator: dict[str, Any]) -> str | None:
    """The noise model a job runs with: ``spec.metadata.noise_model``, else the program's
    decorator, else none (an empty string or ``none`` also means none)."""
    chosen = options.get(NOISE_OPTION)
    if chosen is None:
        chosen = decorator.get(NOISE_OPTION)
    if not isinstance(chosen, str) or chosen.strip().lower() in ("", "none"):
        return None
    return chosen.strip()
