from eigen.proto.api.v1 import common_pb2 as _common_pb2
from eigen.proto.api.v1 import jobs_pb2 as _jobs_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class KernelOpenSessionRequest(_message.Message):
    __slots__ = ("session", "tenant", "owner")
    SESSION_FIELD_NUMBER: _ClassVar[int]
    TENANT_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    session: _jobs_pb2.OpenSessionRequest
    tenant: str
    owner: str
    def __init__(self, session: _Optional[_Union[_jobs_pb2.OpenSessionRequest, _Mapping]] = ..., tenant: _Optional[str] = ..., owner: _Optional[str] = ...) -> None: ...

class KernelSessionRequest(_message.Message):
    __slots__ = ("session_id", "tenant", "any_tenant")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    TENANT_FIELD_NUMBER: _ClassVar[int]
    ANY_TENANT_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    tenant: str
    any_tenant: bool
    def __init__(self, session_id: _Optional[str] = ..., tenant: _Optional[str] = ..., any_tenant: _Optional[bool] = ...) -> None: ...

class EnqueueRequest(_message.Message):
    __slots__ = ("job", "idempotency_key", "owner", "tenant", "max_queued_jobs", "max_shots_per_job", "max_qubits_per_job")
    JOB_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    TENANT_FIELD_NUMBER: _ClassVar[int]
    MAX_QUEUED_JOBS_FIELD_NUMBER: _ClassVar[int]
    MAX_SHOTS_PER_JOB_FIELD_NUMBER: _ClassVar[int]
    MAX_QUBITS_PER_JOB_FIELD_NUMBER: _ClassVar[int]
    job: _common_pb2.JobRequest
    idempotency_key: str
    owner: str
    tenant: str
    max_queued_jobs: int
    max_shots_per_job: int
    max_qubits_per_job: int
    def __init__(self, job: _Optional[_Union[_common_pb2.JobRequest, _Mapping]] = ..., idempotency_key: _Optional[str] = ..., owner: _Optional[str] = ..., tenant: _Optional[str] = ..., max_queued_jobs: _Optional[int] = ..., max_shots_per_job: _Optional[int] = ..., max_qubits_per_job: _Optional[int] = ...) -> None: ...

class EnqueueBatchRequest(_message.Message):
    __slots__ = ("jobs", "owner", "tenant", "max_queued_jobs", "max_shots_per_job", "max_qubits_per_job", "idempotency_key")
    JOBS_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    TENANT_FIELD_NUMBER: _ClassVar[int]
    MAX_QUEUED_JOBS_FIELD_NUMBER: _ClassVar[int]
    MAX_SHOTS_PER_JOB_FIELD_NUMBER: _ClassVar[int]
    MAX_QUBITS_PER_JOB_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    jobs: _containers.RepeatedCompositeFieldContainer[_common_pb2.JobRequest]
    owner: str
    tenant: str
    max_queued_jobs: int
    max_shots_per_job: int
    max_qubits_per_job: int
    idempotency_key: str
    def __init__(self, jobs: _Optional[_Iterable[_Union[_common_pb2.JobRequest, _Mapping]]] = ..., owner: _Optional[str] = ..., tenant: _Optional[str] = ..., max_queued_jobs: _Optional[int] = ..., max_shots_per_job: _Optional[int] = ..., max_qubits_per_job: _Optional[int] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class EnqueueBatchResponse(_message.Message):
    __slots__ = ("jobs", "deduplicated")
    JOBS_FIELD_NUMBER: _ClassVar[int]
    DEDUPLICATED_FIELD_NUMBER: _ClassVar[int]
    jobs: _containers.RepeatedCompositeFieldContainer[_common_pb2.Job]
    deduplicated: bool
    def __init__(self, jobs: _Optional[_Iterable[_Union[_common_pb2.Job, _Mapping]]] = ..., deduplicated: _Optional[bool] = ...) -> None: ...
