"""``sim:statevector-gpu``: exact, noiseless state-vector simulation on a CUDA GPU (qsim).

The GPU engine is qsim's CUDA build (``qsimcirq`` compiled with nvcc, which provides its
``qsim_cuda`` module; ``QSimOptions(use_gpu=True)``): qiskit-aer's GPU wheel needs the
CUDA 12 runtime, cuBLAS, cuSOLVER and cuQuantum wheels besides (gigabytes), where a qsimcirq
build from its source needs only the CUDA toolkit. Circuits take the same path as on
``sim:qsim`` (OpenQASM 2 to cirq) and are refused for the same reasons.

The device exists only where it can run (:func:`gpu_unavailable`, checked when the
registry loads its drivers, that is at server start): a CUDA device node, and a qsimcirq
with its CUDA module. Both checks look at files only; CUDA is first initialised by the
first job. Elsewhere the registry leaves the device out and logs why, once.
"""

from __future__ import annotations

import os
from importlib.util import find_spec
from pathlib import Path
from typing import ClassVar

from eigen.drivers.qsim import QsimDriver

#: Where the NVIDIA driver puts its device nodes.
DEVICE_NODES = Path("/dev")


def gpu_unavailable(device_nodes: Path = DEVICE_NODES) -> str | None:
    """Why no GPU engine can run here, or None: file checks only, nothing initialised."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None and visible.strip() in ("", "-1"):
        return "CUDA_VISIBLE_DEVICES hides every GPU"
    if not any(device_nodes.glob("nvidia[0-9]*")):
        return f"no CUDA device ({device_nodes}/nvidia* absent)"
    spec = find_spec("qsimcirq")  # a top-level spec: the package is not imported
    if spec is None:
        return "qsimcirq is not installed"
    locations = spec.submodule_search_locations or []
    if not any(any(Path(location).glob("qsim_cuda*")) for location in locations):
        return "qsimcirq was built without CUDA (no qsim_cuda module; build it from source with nvcc)"
    return None


class StatevectorGpuDriver(QsimDriver):
    name: ClassVar[str] = "sim:statevector-gpu"
    description: ClassVar[str] = "Exact state-vector simulator on a CUDA GPU (qsim), all-to-all, noiseless"
    use_gpu: ClassVar[bool] = True

    @classmethod
    def unavailable(cls) -> str | None:
        return gpu_unavailable()
