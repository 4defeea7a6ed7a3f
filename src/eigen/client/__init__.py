"""The Eigen Python SDK.

>>> from eigen.client import Client
>>> with Client("127.0.0.1:50051") as client:            # doctest: +SKIP
...     future = client.submit(circuit, target="sim:stabilizer", shots=1000)
...     counts = future.result(timeout=60).counts

* :class:`Client` / :class:`AsyncClient`: one gRPC channel each, deadlines, gRPC retries
  of the idempotent calls, a circuit breaker; ``submit`` returns a :class:`JobFuture`;
  ``api_key`` / ``token`` and ``tls`` (:class:`TlsOptions`) for a secured server.
* :func:`as_completed`, :func:`wait`; :class:`BatchManager` for thousands of jobs.
* :mod:`~eigen.client.export` (pandas, polars, Arrow, Parquet, CSV),
  :mod:`~eigen.client.analysis`, :mod:`~eigen.client.plots`, :class:`ResultCache`.
* The typed errors, one class per ``EIGEN_*`` reason code.

Importing this package loads neither qiskit nor pandas, polars, pyarrow or matplotlib;
each is imported by the function that needs it. The names below are loaded on first use
(PEP 562), so a program that needs one class (the CLI reading a data folder) does not pay
for the whole SDK: gRPC's asyncio client, batches, exports.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from eigen.errors import (
    AlreadyExists,
    Cancelled,
    CompilationFailed,
    DeadlineExceeded,
    EigenError,
    ExecutionFailed,
    FailedPrecondition,
    FieldViolation,
    InternalError,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
    Unauthenticated,
    Unavailable,
    Unimplemented,
)

if TYPE_CHECKING:
    from eigen.client import analysis, export, plots
    from eigen.client.aio import (
        AsyncClient,
        AsyncJobFuture,
    )
    from eigen.client.analysis import (
        expectation_value,
        hellinger_fidelity,
        marginal_counts,
        shannon_entropy,
        total_variation_distance,
    )
    from eigen.client.batch import (
        BatchFailure,
        BatchManager,
        BatchResult,
    )
    from eigen.client.breaker import (
        BreakerState,
        CircuitBreaker,
    )
    from eigen.client.cache import (
        ResultCache,
    )
    from eigen.client.channel import (
        ENDPOINT_ENV,
        ChannelOptions,
        RetryPolicy,
        TlsOptions,
    )
    from eigen.client.client import (
        Client,
    )
    from eigen.client.export import (
        from_table,
        read_csv,
        read_parquet,
        to_arrow,
        to_pandas,
        to_polars,
        write_csv,
        write_parquet,
    )
    from eigen.client.futures import (
        ALL_COMPLETED,
        FIRST_COMPLETED,
        FIRST_EXCEPTION,
        DoneAndNotDone,
        JobFuture,
        as_completed,
        wait,
    )
    from eigen.client.inputs import (
        SubmitOptions,
        to_request,
    )
    from eigen.client.plots import (
        plot_convergence,
        plot_counts,
    )
    from eigen.models.job import (
        Job,
        JobEvent,
        JobRequest,
    )
    from eigen.models.result import (
        Experiment,
        JobResult,
    )
    from eigen.models.state import (
        JobState,
    )

_LAZY: dict[str, str] = {
    "AsyncClient": "eigen.client.aio",
    "AsyncJobFuture": "eigen.client.aio",
    "expectation_value": "eigen.client.analysis",
    "hellinger_fidelity": "eigen.client.analysis",
    "marginal_counts": "eigen.client.analysis",
    "shannon_entropy": "eigen.client.analysis",
    "total_variation_distance": "eigen.client.analysis",
    "BatchFailure": "eigen.client.batch",
    "BatchManager": "eigen.client.batch",
    "BatchResult": "eigen.client.batch",
    "BreakerState": "eigen.client.breaker",
    "CircuitBreaker": "eigen.client.breaker",
    "ResultCache": "eigen.client.cache",
    "ENDPOINT_ENV": "eigen.client.channel",
    "ChannelOptions": "eigen.client.channel",
    "RetryPolicy": "eigen.client.channel",
    "TlsOptions": "eigen.client.channel",
    "Client": "eigen.client.client",
    "from_table": "eigen.client.export",
    "read_csv": "eigen.client.export",
    "read_parquet": "eigen.client.export",
    "to_arrow": "eigen.client.export",
    "to_pandas": "eigen.client.export",
    "to_polars": "eigen.client.export",
    "write_csv": "eigen.client.export",
    "write_parquet": "eigen.client.export",
    "ALL_COMPLETED": "eigen.client.futures",
    "FIRST_COMPLETED": "eigen.client.futures",
    "FIRST_EXCEPTION": "eigen.client.futures",
    "DoneAndNotDone": "eigen.client.futures",
    "JobFuture": "eigen.client.futures",
    "as_completed": "eigen.client.futures",
    "wait": "eigen.client.futures",
    "SubmitOptions": "eigen.client.inputs",
    "to_request": "eigen.client.inputs",
    "plot_convergence": "eigen.client.plots",
    "plot_counts": "eigen.client.plots",
    "Job": "eigen.models.job",
    "JobEvent": "eigen.models.job",
    "JobRequest": "eigen.models.job",
    "Experiment": "eigen.models.result",
    "JobResult": "eigen.models.result",
    "JobState": "eigen.models.state",
    "analysis": "eigen.client.analysis",
    "export": "eigen.client.export",
    "plots": "eigen.client.plots",
}
"""Each lazily loaded name and the module that defines it (a submodule for analysis,
export and plots)."""


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    loaded = importlib.import_module(module)
    value = loaded if module == f"{__name__}.{name}" else getattr(loaded, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [
    "ALL_COMPLETED",
    "ENDPOINT_ENV",
    "FIRST_COMPLETED",
    "FIRST_EXCEPTION",
    "AlreadyExists",
    "AsyncClient",
    "AsyncJobFuture",
    "BatchFailure",
    "BatchManager",
    "BatchResult",
    "BreakerState",
    "Cancelled",
    "ChannelOptions",
    "CircuitBreaker",
    "Client",
    "CompilationFailed",
    "DeadlineExceeded",
    "DoneAndNotDone",
    "EigenError",
    "ExecutionFailed",
    "Experiment",
    "FailedPrecondition",
    "FieldViolation",
    "InternalError",
    "InvalidArgument",
    "Job",
    "JobEvent",
    "JobFuture",
    "JobRequest",
    "JobResult",
    "JobState",
    "NotFound",
    "PermissionDenied",
    "ResourceExhausted",
    "ResultCache",
    "RetryPolicy",
    "SubmitOptions",
    "TlsOptions",
    "Unauthenticated",
    "Unavailable",
    "Unimplemented",
    "analysis",
    "as_completed",
    "expectation_value",
    "export",
    "from_table",
    "hellinger_fidelity",
    "marginal_counts",
    "plot_convergence",
    "plot_counts",
    "plots",
    "read_csv",
    "read_parquet",
    "shannon_entropy",
    "to_arrow",
    "to_pandas",
    "to_polars",
    "to_request",
    "total_variation_distance",
    "wait",
    "write_csv",
    "write_parquet",
]
