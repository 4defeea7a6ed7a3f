from eigen.proto.api.v1 import common_pb2 as _common_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CompileRequest(_message.Message):
    __slots__ = ("program", "device", "optimization_level", "seed", "measurement_bases")
    PROGRAM_FIELD_NUMBER: _ClassVar[int]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    OPTIMIZATION_LEVEL_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    MEASUREMENT_BASES_FIELD_NUMBER: _ClassVar[int]
    program: _common_pb2.Program
    device: _common_pb2.Backend
    optimization_level: int
    seed: int
    measurement_bases: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, program: _Optional[_Union[_common_pb2.Program, _Mapping]] = ..., device: _Optional[_Union[_common_pb2.Backend, _Mapping]] = ..., optimization_level: _Optional[int] = ..., seed: _Optional[int] = ..., measurement_bases: _Optional[_Iterable[str]] = ...) -> None: ...

class HybridSpec(_message.Message):
    __slots__ = ("observables", "objective", "method", "max_iters", "initial_params", "options", "returns")
    class ObservablesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _common_pb2.Observable
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_common_pb2.Observable, _Mapping]] = ...) -> None: ...
    class InitialParamsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    class ReturnsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    OBSERVABLES_FIELD_NUMBER: _ClassVar[int]
    OBJECTIVE_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    MAX_ITERS_FIELD_NUMBER: _ClassVar[int]
    INITIAL_PARAMS_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    RETURNS_FIELD_NUMBER: _ClassVar[int]
    observables: _containers.MessageMap[str, _common_pb2.Observable]
    objective: str
    method: str
    max_iters: int
    initial_params: _containers.ScalarMap[str, float]
    options: _struct_pb2.Struct
    returns: _containers.ScalarMap[str, str]
    def __init__(self, observables: _Optional[_Mapping[str, _common_pb2.Observable]] = ..., objective: _Optional[str] = ..., method: _Optional[str] = ..., max_iters: _Optional[int] = ..., initial_params: _Optional[_Mapping[str, float]] = ..., options: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., returns: _Optional[_Mapping[str, str]] = ...) -> None: ...

class CompileResponse(_message.Message):
    __slots__ = ("circuit_qpy", "source_circuit_qpy", "device", "num_qubits", "num_clbits", "parameters", "report", "qasm3", "aqo_json", "defaults", "hybrid", "decorator", "basis_circuits_qpy", "returns_json", "empty", "decorator_json")
    class DefaultsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    class BasisCircuitsQpyEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: bytes
        def __init__(self, key: _Optional[str] = ..., value: _Optional[bytes] = ...) -> None: ...
    CIRCUIT_QPY_FIELD_NUMBER: _ClassVar[int]
    SOURCE_CIRCUIT_QPY_FIELD_NUMBER: _ClassVar[int]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    NUM_QUBITS_FIELD_NUMBER: _ClassVar[int]
    NUM_CLBITS_FIELD_NUMBER: _ClassVar[int]
    PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    REPORT_FIELD_NUMBER: _ClassVar[int]
    QASM3_FIELD_NUMBER: _ClassVar[int]
    AQO_JSON_FIELD_NUMBER: _ClassVar[int]
    DEFAULTS_FIELD_NUMBER: _ClassVar[int]
    HYBRID_FIELD_NUMBER: _ClassVar[int]
    DECORATOR_FIELD_NUMBER: _ClassVar[int]
    BASIS_CIRCUITS_QPY_FIELD_NUMBER: _ClassVar[int]
    RETURNS_JSON_FIELD_NUMBER: _ClassVar[int]
    EMPTY_FIELD_NUMBER: _ClassVar[int]
    DECORATOR_JSON_FIELD_NUMBER: _ClassVar[int]
    circuit_qpy: bytes
    source_circuit_qpy: bytes
    device: str
    num_qubits: int
    num_clbits: int
    parameters: _containers.RepeatedScalarFieldContainer[str]
    report: _struct_pb2.Struct
    qasm3: str
    aqo_json: str
    defaults: _containers.ScalarMap[str, float]
    hybrid: HybridSpec
    decorator: _struct_pb2.Struct
    basis_circuits_qpy: _containers.ScalarMap[str, bytes]
    returns_json: str
    empty: bool
    decorator_json: str
    def __init__(self, circuit_qpy: _Optional[bytes] = ..., source_circuit_qpy: _Optional[bytes] = ..., device: _Optional[str] = ..., num_qubits: _Optional[int] = ..., num_clbits: _Optional[int] = ..., parameters: _Optional[_Iterable[str]] = ..., report: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., qasm3: _Optional[str] = ..., aqo_json: _Optional[str] = ..., defaults: _Optional[_Mapping[str, float]] = ..., hybrid: _Optional[_Union[HybridSpec, _Mapping]] = ..., decorator: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., basis_circuits_qpy: _Optional[_Mapping[str, bytes]] = ..., returns_json: _Optional[str] = ..., empty: _Optional[bool] = ..., decorator_json: _Optional[str] = ...) -> None: ...
