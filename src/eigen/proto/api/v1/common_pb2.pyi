import datetime

from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class JobState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    JOB_STATE_UNSPECIFIED: _ClassVar[JobState]
    JOB_STATE_PENDING: _ClassVar[JobState]
    JOB_STATE_COMPILING: _ClassVar[JobState]
    JOB_STATE_QUEUED: _ClassVar[JobState]
    JOB_STATE_RUNNING: _ClassVar[JobState]
    JOB_STATE_DONE: _ClassVar[JobState]
    JOB_STATE_ERROR: _ClassVar[JobState]
    JOB_STATE_CANCELLED: _ClassVar[JobState]
    JOB_STATE_TIMEOUT: _ClassVar[JobState]

class ProgramLanguage(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PROGRAM_LANGUAGE_UNSPECIFIED: _ClassVar[ProgramLanguage]
    PROGRAM_LANGUAGE_QASM2: _ClassVar[ProgramLanguage]
    PROGRAM_LANGUAGE_QASM3: _ClassVar[ProgramLanguage]
    PROGRAM_LANGUAGE_EIGEN_LANG: _ClassVar[ProgramLanguage]
    PROGRAM_LANGUAGE_AQO: _ClassVar[ProgramLanguage]

class BackendStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    BACKEND_STATUS_UNSPECIFIED: _ClassVar[BackendStatus]
    BACKEND_STATUS_ONLINE: _ClassVar[BackendStatus]
    BACKEND_STATUS_OFFLINE: _ClassVar[BackendStatus]
    BACKEND_STATUS_MAINTENANCE: _ClassVar[BackendStatus]
JOB_STATE_UNSPECIFIED: JobState
JOB_STATE_PENDING: JobState
JOB_STATE_COMPILING: JobState
JOB_STATE_QUEUED: JobState
JOB_STATE_RUNNING: JobState
JOB_STATE_DONE: JobState
JOB_STATE_ERROR: JobState
JOB_STATE_CANCELLED: JobState
JOB_STATE_TIMEOUT: JobState
PROGRAM_LANGUAGE_UNSPECIFIED: ProgramLanguage
PROGRAM_LANGUAGE_QASM2: ProgramLanguage
PROGRAM_LANGUAGE_QASM3: ProgramLanguage
PROGRAM_LANGUAGE_EIGEN_LANG: ProgramLanguage
PROGRAM_LANGUAGE_AQO: ProgramLanguage
BACKEND_STATUS_UNSPECIFIED: BackendStatus
BACKEND_STATUS_ONLINE: BackendStatus
BACKEND_STATUS_OFFLINE: BackendStatus
BACKEND_STATUS_MAINTENANCE: BackendStatus

class Program(_message.Message):
    __slots__ = ("source", "language", "entrypoint", "uri")
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    ENTRYPOINT_FIELD_NUMBER: _ClassVar[int]
    URI_FIELD_NUMBER: _ClassVar[int]
    source: str
    language: ProgramLanguage
    entrypoint: str
    uri: str
    def __init__(self, source: _Optional[str] = ..., language: _Optional[_Union[ProgramLanguage, str]] = ..., entrypoint: _Optional[str] = ..., uri: _Optional[str] = ...) -> None: ...

class ParameterBinding(_message.Message):
    __slots__ = ("values",)
    class ValuesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    VALUES_FIELD_NUMBER: _ClassVar[int]
    values: _containers.ScalarMap[str, float]
    def __init__(self, values: _Optional[_Mapping[str, float]] = ...) -> None: ...

class PauliTerm(_message.Message):
    __slots__ = ("pauli", "coefficient")
    PAULI_FIELD_NUMBER: _ClassVar[int]
    COEFFICIENT_FIELD_NUMBER: _ClassVar[int]
    pauli: str
    coefficient: float
    def __init__(self, pauli: _Optional[str] = ..., coefficient: _Optional[float] = ...) -> None: ...

class Observable(_message.Message):
    __slots__ = ("terms",)
    TERMS_FIELD_NUMBER: _ClassVar[int]
    terms: _containers.RepeatedCompositeFieldContainer[PauliTerm]
    def __init__(self, terms: _Optional[_Iterable[_Union[PauliTerm, _Mapping]]] = ...) -> None: ...

class JobRequest(_message.Message):
    __slots__ = ("name", "program", "target", "shots", "seed", "optimization_level", "priority", "parameter_bindings", "observables", "timeout_seconds", "labels", "options", "dependencies", "namespace", "annotations", "workload", "extensions_json", "outputs", "session_id")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class OptionsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class AnnotationsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    PROGRAM_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    SHOTS_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    OPTIMIZATION_LEVEL_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    PARAMETER_BINDINGS_FIELD_NUMBER: _ClassVar[int]
    OBSERVABLES_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_SECONDS_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    DEPENDENCIES_FIELD_NUMBER: _ClassVar[int]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    ANNOTATIONS_FIELD_NUMBER: _ClassVar[int]
    WORKLOAD_FIELD_NUMBER: _ClassVar[int]
    EXTENSIONS_JSON_FIELD_NUMBER: _ClassVar[int]
    OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    program: Program
    target: str
    shots: int
    seed: int
    optimization_level: int
    priority: int
    parameter_bindings: _containers.RepeatedCompositeFieldContainer[ParameterBinding]
    observables: _containers.RepeatedCompositeFieldContainer[Observable]
    timeout_seconds: float
    labels: _containers.ScalarMap[str, str]
    options: _containers.ScalarMap[str, str]
    dependencies: _containers.RepeatedScalarFieldContainer[str]
    namespace: str
    annotations: _containers.ScalarMap[str, str]
    workload: str
    extensions_json: str
    outputs: _containers.RepeatedScalarFieldContainer[str]
    session_id: str
    def __init__(self, name: _Optional[str] = ..., program: _Optional[_Union[Program, _Mapping]] = ..., target: _Optional[str] = ..., shots: _Optional[int] = ..., seed: _Optional[int] = ..., optimization_level: _Optional[int] = ..., priority: _Optional[int] = ..., parameter_bindings: _Optional[_Iterable[_Union[ParameterBinding, _Mapping]]] = ..., observables: _Optional[_Iterable[_Union[Observable, _Mapping]]] = ..., timeout_seconds: _Optional[float] = ..., labels: _Optional[_Mapping[str, str]] = ..., options: _Optional[_Mapping[str, str]] = ..., dependencies: _Optional[_Iterable[str]] = ..., namespace: _Optional[str] = ..., annotations: _Optional[_Mapping[str, str]] = ..., workload: _Optional[str] = ..., extensions_json: _Optional[str] = ..., outputs: _Optional[_Iterable[str]] = ..., session_id: _Optional[str] = ...) -> None: ...

class Job(_message.Message):
    __slots__ = ("id", "name", "state", "target", "priority", "shots", "language", "created_at", "updated_at", "started_at", "finished_at", "error_code", "error_summary", "labels", "timings", "attempt", "last_event_seq", "owner", "progress", "result_expired_at", "namespace", "annotations", "workload", "extensions_json", "program_uri", "progress_json", "tenant", "worker", "lease_expires_at", "placement")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class TimingsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    class AnnotationsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    SHOTS_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    FINISHED_AT_FIELD_NUMBER: _ClassVar[int]
    ERROR_CODE_FIELD_NUMBER: _ClassVar[int]
    ERROR_SUMMARY_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    TIMINGS_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    LAST_EVENT_SEQ_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    RESULT_EXPIRED_AT_FIELD_NUMBER: _ClassVar[int]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    ANNOTATIONS_FIELD_NUMBER: _ClassVar[int]
    WORKLOAD_FIELD_NUMBER: _ClassVar[int]
    EXTENSIONS_JSON_FIELD_NUMBER: _ClassVar[int]
    PROGRAM_URI_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_JSON_FIELD_NUMBER: _ClassVar[int]
    TENANT_FIELD_NUMBER: _ClassVar[int]
    WORKER_FIELD_NUMBER: _ClassVar[int]
    LEASE_EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    PLACEMENT_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    state: JobState
    target: str
    priority: int
    shots: int
    language: ProgramLanguage
    created_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    started_at: _timestamp_pb2.Timestamp
    finished_at: _timestamp_pb2.Timestamp
    error_code: str
    error_summary: str
    labels: _containers.ScalarMap[str, str]
    timings: _containers.ScalarMap[str, float]
    attempt: int
    last_event_seq: int
    owner: str
    progress: _struct_pb2.Struct
    result_expired_at: _timestamp_pb2.Timestamp
    namespace: str
    annotations: _containers.ScalarMap[str, str]
    workload: str
    extensions_json: str
    program_uri: str
    progress_json: str
    tenant: str
    worker: str
    lease_expires_at: _timestamp_pb2.Timestamp
    placement: QueuePlacement
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., state: _Optional[_Union[JobState, str]] = ..., target: _Optional[str] = ..., priority: _Optional[int] = ..., shots: _Optional[int] = ..., language: _Optional[_Union[ProgramLanguage, str]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., started_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., finished_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., error_code: _Optional[str] = ..., error_summary: _Optional[str] = ..., labels: _Optional[_Mapping[str, str]] = ..., timings: _Optional[_Mapping[str, float]] = ..., attempt: _Optional[int] = ..., last_event_seq: _Optional[int] = ..., owner: _Optional[str] = ..., progress: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., result_expired_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., namespace: _Optional[str] = ..., annotations: _Optional[_Mapping[str, str]] = ..., workload: _Optional[str] = ..., extensions_json: _Optional[str] = ..., program_uri: _Optional[str] = ..., progress_json: _Optional[str] = ..., tenant: _Optional[str] = ..., worker: _Optional[str] = ..., lease_expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., placement: _Optional[_Union[QueuePlacement, _Mapping]] = ...) -> None: ...

class QueuePlacement(_message.Message):
    __slots__ = ("stage", "device", "position", "slots", "estimated_start", "reason")
    STAGE_FIELD_NUMBER: _ClassVar[int]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    POSITION_FIELD_NUMBER: _ClassVar[int]
    SLOTS_FIELD_NUMBER: _ClassVar[int]
    ESTIMATED_START_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    stage: str
    device: str
    position: int
    slots: int
    estimated_start: _timestamp_pb2.Timestamp
    reason: str
    def __init__(self, stage: _Optional[str] = ..., device: _Optional[str] = ..., position: _Optional[int] = ..., slots: _Optional[int] = ..., estimated_start: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., reason: _Optional[str] = ...) -> None: ...

class JobEvent(_message.Message):
    __slots__ = ("job_id", "event_seq", "state", "kind", "message", "timestamp", "data", "terminal", "data_json")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_SEQ_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    TERMINAL_FIELD_NUMBER: _ClassVar[int]
    DATA_JSON_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    event_seq: int
    state: JobState
    kind: str
    message: str
    timestamp: _timestamp_pb2.Timestamp
    data: _struct_pb2.Struct
    terminal: bool
    data_json: str
    def __init__(self, job_id: _Optional[str] = ..., event_seq: _Optional[int] = ..., state: _Optional[_Union[JobState, str]] = ..., kind: _Optional[str] = ..., message: _Optional[str] = ..., timestamp: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., data: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., terminal: _Optional[bool] = ..., data_json: _Optional[str] = ...) -> None: ...

class Experiment(_message.Message):
    __slots__ = ("counts", "shots", "bindings", "expectation_values", "standard_errors", "memory", "probabilities", "statevector_real", "statevector_imag")
    class CountsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    class BindingsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    COUNTS_FIELD_NUMBER: _ClassVar[int]
    SHOTS_FIELD_NUMBER: _ClassVar[int]
    BINDINGS_FIELD_NUMBER: _ClassVar[int]
    EXPECTATION_VALUES_FIELD_NUMBER: _ClassVar[int]
    STANDARD_ERRORS_FIELD_NUMBER: _ClassVar[int]
    MEMORY_FIELD_NUMBER: _ClassVar[int]
    PROBABILITIES_FIELD_NUMBER: _ClassVar[int]
    STATEVECTOR_REAL_FIELD_NUMBER: _ClassVar[int]
    STATEVECTOR_IMAG_FIELD_NUMBER: _ClassVar[int]
    counts: _containers.ScalarMap[str, int]
    shots: int
    bindings: _containers.ScalarMap[str, float]
    expectation_values: _containers.RepeatedScalarFieldContainer[float]
    standard_errors: _containers.RepeatedScalarFieldContainer[float]
    memory: _containers.RepeatedScalarFieldContainer[str]
    probabilities: _containers.RepeatedScalarFieldContainer[float]
    statevector_real: _containers.RepeatedScalarFieldContainer[float]
    statevector_imag: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, counts: _Optional[_Mapping[str, int]] = ..., shots: _Optional[int] = ..., bindings: _Optional[_Mapping[str, float]] = ..., expectation_values: _Optional[_Iterable[float]] = ..., standard_errors: _Optional[_Iterable[float]] = ..., memory: _Optional[_Iterable[str]] = ..., probabilities: _Optional[_Iterable[float]] = ..., statevector_real: _Optional[_Iterable[float]] = ..., statevector_imag: _Optional[_Iterable[float]] = ...) -> None: ...

class JobResults(_message.Message):
    __slots__ = ("job_id", "state", "backend", "experiments", "seed", "calibration_id", "timings", "compile_report", "summary", "summary_json", "compile_report_json", "engine")
    class TimingsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    EXPERIMENTS_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    CALIBRATION_ID_FIELD_NUMBER: _ClassVar[int]
    TIMINGS_FIELD_NUMBER: _ClassVar[int]
    COMPILE_REPORT_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_JSON_FIELD_NUMBER: _ClassVar[int]
    COMPILE_REPORT_JSON_FIELD_NUMBER: _ClassVar[int]
    ENGINE_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    state: JobState
    backend: str
    experiments: _containers.RepeatedCompositeFieldContainer[Experiment]
    seed: int
    calibration_id: str
    timings: _containers.ScalarMap[str, float]
    compile_report: _struct_pb2.Struct
    summary: _struct_pb2.Struct
    summary_json: str
    compile_report_json: str
    engine: str
    def __init__(self, job_id: _Optional[str] = ..., state: _Optional[_Union[JobState, str]] = ..., backend: _Optional[str] = ..., experiments: _Optional[_Iterable[_Union[Experiment, _Mapping]]] = ..., seed: _Optional[int] = ..., calibration_id: _Optional[str] = ..., timings: _Optional[_Mapping[str, float]] = ..., compile_report: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., summary: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., summary_json: _Optional[str] = ..., compile_report_json: _Optional[str] = ..., engine: _Optional[str] = ...) -> None: ...

class CouplingEdge(_message.Message):
    __slots__ = ("control", "target")
    CONTROL_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    control: int
    target: int
    def __init__(self, control: _Optional[int] = ..., target: _Optional[int] = ...) -> None: ...

class Backend(_message.Message):
    __slots__ = ("name", "num_qubits", "basis_gates", "coupling_map", "max_shots", "max_circuits", "status", "queue_depth", "calibration_id", "simulator", "noisy", "clifford_only", "description", "aliases", "state_memory")
    NAME_FIELD_NUMBER: _ClassVar[int]
    NUM_QUBITS_FIELD_NUMBER: _ClassVar[int]
    BASIS_GATES_FIELD_NUMBER: _ClassVar[int]
    COUPLING_MAP_FIELD_NUMBER: _ClassVar[int]
    MAX_SHOTS_FIELD_NUMBER: _ClassVar[int]
    MAX_CIRCUITS_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    QUEUE_DEPTH_FIELD_NUMBER: _ClassVar[int]
    CALIBRATION_ID_FIELD_NUMBER: _ClassVar[int]
    SIMULATOR_FIELD_NUMBER: _ClassVar[int]
    NOISY_FIELD_NUMBER: _ClassVar[int]
    CLIFFORD_ONLY_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    ALIASES_FIELD_NUMBER: _ClassVar[int]
    STATE_MEMORY_FIELD_NUMBER: _ClassVar[int]
    name: str
    num_qubits: int
    basis_gates: _containers.RepeatedScalarFieldContainer[str]
    coupling_map: _containers.RepeatedCompositeFieldContainer[CouplingEdge]
    max_shots: int
    max_circuits: int
    status: BackendStatus
    queue_depth: int
    calibration_id: str
    simulator: bool
    noisy: bool
    clifford_only: bool
    description: str
    aliases: _containers.RepeatedScalarFieldContainer[str]
    state_memory: str
    def __init__(self, name: _Optional[str] = ..., num_qubits: _Optional[int] = ..., basis_gates: _Optional[_Iterable[str]] = ..., coupling_map: _Optional[_Iterable[_Union[CouplingEdge, _Mapping]]] = ..., max_shots: _Optional[int] = ..., max_circuits: _Optional[int] = ..., status: _Optional[_Union[BackendStatus, str]] = ..., queue_depth: _Optional[int] = ..., calibration_id: _Optional[str] = ..., simulator: _Optional[bool] = ..., noisy: _Optional[bool] = ..., clifford_only: _Optional[bool] = ..., description: _Optional[str] = ..., aliases: _Optional[_Iterable[str]] = ..., state_memory: _Optional[str] = ...) -> None: ...

class Calibration(_message.Message):
    __slots__ = ("backend", "calibration_id", "taken_at", "qubits", "gates")
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    CALIBRATION_ID_FIELD_NUMBER: _ClassVar[int]
    TAKEN_AT_FIELD_NUMBER: _ClassVar[int]
    QUBITS_FIELD_NUMBER: _ClassVar[int]
    GATES_FIELD_NUMBER: _ClassVar[int]
    backend: str
    calibration_id: str
    taken_at: str
    qubits: _struct_pb2.ListValue
    gates: _struct_pb2.ListValue
    def __init__(self, backend: _Optional[str] = ..., calibration_id: _Optional[str] = ..., taken_at: _Optional[str] = ..., qubits: _Optional[_Union[_struct_pb2.ListValue, _Mapping]] = ..., gates: _Optional[_Union[_struct_pb2.ListValue, _Mapping]] = ...) -> None: ...
