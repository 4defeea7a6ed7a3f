"""Noise models a job asks for by name (``noise_model="depolarizing:0.001"``).

A job names its noise model in ``spec.metadata.noise_model`` or in the program's
``@hybrid_program(noise_model=...)``; the job's setting wins. The name travels to the
driver as text in :class:`~eigen.models.compiled.ExecutionRequest` and the driver builds
the simulator's noise model from it (:mod:`eigen.drivers.noise`, qiskit-aer).

The text is one channel ``name:parameter`` or several joined by commas
(``"depolarizing:0.001,readout:0.01"``); the names are :data:`CHANNELS`. This module is
pure (no qiskit import): the kernel, the CLI and the Eigen-Lang checks parse and check a
noise model without loading a simulator.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from eigen.errors import InvalidArgument, quote
from eigen.models.target import DeviceInfo

NOISE_OPTION = "noise_model"

#: Channel name -> what its parameter is (shown in errors and docs/noise.md).
CHANNELS: dict[str, str] = {
    "depolarizing": "p: depolarizing error on every gate (n-qubit channel on an n-qubit gate)",
    "bit_flip": "p: X flip on each qubit of every gate",
    "phase_flip": "p: Z flip on each qubit of every gate",
    "amplitude_damping": "gamma: amplitude damping (T1 decay) on each qubit of every gate",
    "readout": "p: each measured bit is read flipped with probability p",
}

#: Longest noise-model text accepted (a handful of channels fit easily).
MAX_TEXT = 256


@dataclass(frozen=True)
class NoiseChannel:
    """One channel of a noise model: its name (a key of :data:`CHANNELS`) and parameter."""

    name: str
    parameter: float


@dataclass(frozen=True)
class NoiseSpec:
    """A parsed noise model: its channels in the order given (at most one of each name)."""

    channels: tuple[NoiseChannel, ...]

    @property
    def text(self) -> str:
        """The canonical text (``depolarizing:0.001,readout:0.01``): the cache key of the
        drivers, and what a result reports."""
        return ",".join(f"{c.name}:{c.parameter!r}" for c in self.channels)

    def parameter(self, name: str) -> float | None:
        """The parameter of channel ``name``, None if the model has no such channel."""
        for channel in self.channels:
            if channel.name == name:
                return channel.parameter
        return None


def known_names() -> str:
    """The channel names, for error messages: ``amplitude_damping, bit_flip, ...``."""
    return ", ".join(sorted(CHANNELS))


def parse_noise_model(text: str, field: str) -> NoiseSpec:
    """Parse ``text`` (``name:p`` or ``name:p,name:p``); ``field`` is named in every error.

    Raises :class:`~eigen.errors.InvalidArgument` for an unknown name (the message lists the
    known ones), a missing or non-numeric parameter, a parameter outside [0, 1] or not
    finite, a channel given twice, or empty text."""
    if not isinstance(text, str):
        raise InvalidArgument.for_field(
            field, f"a noise model is text such as 'depolarizing:0.001', got {quote(text)}"
        )
    if len(text) > MAX_TEXT:
        raise InvalidArgument.for_field(
            field, f"noise model {quote(text)} is longer than {MAX_TEXT} characters"
        )
    parts = [part.strip() for part in text.split(",")]
    if not any(parts):
        raise InvalidArgument.for_field(
            field, f"empty noise model; give name:parameter with a name among {known_names()}"
        )
    channels: list[NoiseChannel] = []
    for part in parts:
        channel = _parse_channel(part, text, field)
        if any(c.name == channel.name for c in channels):
            raise InvalidArgument.for_field(field, f"noise model {quote(text)} names {channel.name!r} twice")
        channels.append(channel)
    return NoiseSpec(tuple(channels))


def _parse_channel(part: str, text: str, field: str) -> NoiseChannel:
    name, colon, value = part.partition(":")
    name = name.strip().lower()
    if not name:
        raise InvalidArgument.for_field(
            field, f"noise model {quote(text)} has an empty channel; known names: {known_names()}"
        )
    if name not in CHANNELS:
        raise InvalidArgument.for_field(
            field, f"unknown noise model {quote(name)} in {quote(text)}; known names: {known_names()}"
        )
    if not colon or not value.strip():
        raise InvalidArgument.for_field(
            field, f"noise model {name!r} needs a parameter: {name}:{CHANNELS[name]}"
        )
    try:
        parameter = float(value)
    except ValueError:
        raise InvalidArgument.for_field(
            field, f"parameter of noise model {name!r} must be a number, got {quote(value.strip())}"
        ) from None
    if not math.isfinite(parameter) or not 0.0 <= parameter <= 1.0:
        raise InvalidArgument.for_field(
            field,
            f"parameter of noise model {name!r} must be a probability in [0, 1], got {quote(value.strip())}",
        )
    return NoiseChannel(name, parameter)


def applies_noise_models(device: DeviceInfo) -> bool:
    """Whether ``device`` runs a named noise model: a noiseless, general (not Clifford-only)
    simulator. The built-in one is ``sim:statevector`` (qiskit-aer); ``sim:stabilizer``
    (stim) and the emulators, which carry their device's own noise, do not."""
    return device.simulator and not device.noisy and not device.clifford_only


def check_noise(noise_model: str | None, device: DeviceInfo, shots: int, field: str) -> NoiseSpec | None:
    """The submission check of a job's noise model: parsed (see :func:`parse_noise_model`),
    on a device that applies it, with sampled shots. None when the job has no noise model.

    Raises :class:`~eigen.errors.InvalidArgument` naming ``field`` otherwise."""
    if noise_model is None:
        return None
    spec = parse_noise_model(noise_model, field)
    shown = quote(noise_model)
    if not device.simulator:
        raise InvalidArgument.for_field(
            field,
            f"noise model {shown} runs on a simulator; {device.name} is a real device with its own noise",
        )
    if device.noisy:
        raise InvalidArgument.for_field(
            field,
            f"{device.name} is a noisy emulator with its device's own noise model and cannot add "
            f"noise model {shown}; use a noiseless simulator such as sim:statevector",
        )
    if device.clifford_only:
        raise InvalidArgument.for_field(
            field,
            f"{device.name} (Clifford, stim) cannot apply noise model {shown}; use sim:statevector",
        )
    if shots <= 0:
        raise InvalidArgument.for_field(
            field,
            f"exact estimation (shots 0) has no noise: set shots (e.g. 8192) to run with noise model {shown}",
        )
    return spec


def chosen_noise_model(options: dict[str, str], decorator: dict[str, Any]) -> str | None:
    """The noise model a job runs with: ``spec.metadata.noise_model``, else the program's
    decorator, else none (an empty string or ``none`` also means none)."""
    chosen = options.get(NOISE_OPTION)
    if chosen is None:
        chosen = decorator.get(NOISE_OPTION)
    if not isinstance(chosen, str) or chosen.strip().lower() in ("", "none"):
        return None
    return chosen.strip()
