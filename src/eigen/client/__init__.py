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
each is imported by the function that needs it.
"""

from eigen.client import analysis, export, plots
from eigen.client.aio import AsyncClient, AsyncJobFuture
from eigen.client.analysis import (
    expectation_value,
    hellinger_fidelity,
    marginal_counts,
    shannon_entropy,
    total_variation_distance,
)
from eigen.client.batch import BatchFailure, BatchManager, BatchResult
from eigen.client.breaker import BreakerState, CircuitBreaker
from eigen.client.cache import ResultCache
from eigen.client.channel import ENDPOINT_ENV, ChannelOptions, RetryPolicy, TlsOptions
from eigen.client.client import Client
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
from eigen.client.inputs import SubmitOptions, to_request
from eigen.client.plots import plot_convergence, plot_counts
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
from eigen.models.job import Job, JobEvent, JobRequest
from eigen.models.result import Experiment, JobResult
from eigen.models.state import JobState

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
