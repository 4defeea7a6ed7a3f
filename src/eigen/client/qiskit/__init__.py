"""Qiskit integration of the Eigen SDK (imported explicitly; ``import eigen.client`` never loads qiskit).

* :class:`EigenBackend`: a ``BackendV2`` (target from GetBackend) for ``transpile``,
  ``backend.run`` and qiskit's ``BackendSamplerV2`` / ``BackendEstimatorV2``.
* :class:`EigenSampler`, :class:`EigenEstimator`: V2 primitives whose PUBs run on the
  server as parameter-sweep jobs (one job per PUB).

>>> from eigen.client.qiskit import EigenBackend, EigenEstimator, EigenSampler
>>> backend = EigenBackend("127.0.0.1:50051")  # or a Client; backend "sim:statevector"
"""

from __future__ import annotations

from eigen.client.qiskit.backend import EigenBackend
from eigen.client.qiskit.estimator import EigenEstimator
from eigen.client.qiskit.job import EigenJob, EigenJobFailed
from eigen.client.qiskit.sampler import EigenSampler

__all__ = ["EigenBackend", "EigenEstimator", "EigenJob", "EigenJobFailed", "EigenSampler"]
