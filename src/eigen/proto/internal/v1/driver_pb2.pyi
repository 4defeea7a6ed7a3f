from eigen.proto.api.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ListDevicesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListDevicesResponse(_message.Message):
    __slots__ = ("devices",)
    DEVICES_FIELD_NUMBER: _ClassVar[int]
    devices: _containers.RepeatedCompositeFieldContainer[_common_pb2.Backend]
    def __init__(self, devices: _Optional[_Iterable[_Union[_common_pb2.Backend, _Mapping]]] = ...) -> None: ...

class DeviceRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class DeviceStatusResponse(_message.Message):
    __slots__ = ("name", "status")
    NAME_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    name: str
    status: _common_pb2.BackendStatus
    def __init__(self, name: _Optional[str] = ..., status: _Optional[_Union[_common_pb2.BackendStatus, str]] = ...) -> None: ...

class ExecuteRequest(_message.Message):
    __slots__ = ("device", "circuit_qpy", "shots", "seed", "parameter_bindings", "noise_model", "outputs")
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    CIRCUIT_QPY_FIELD_NUMBER: _ClassVar[int]
    SHOTS_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    PARAMETER_BINDINGS_FIELD_NUMBER: _ClassVar[int]
    NOISE_MODEL_FIELD_NUMBER: _ClassVar[int]
    OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    device: str
    circuit_qpy: bytes
    shots: int
    seed: int
    parameter_bindings: _containers.RepeatedCompositeFieldContainer[_common_pb2.ParameterBinding]
    noise_model: str
    outputs: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, device: _Optional[str] = ..., circuit_qpy: _Optional[bytes] = ..., shots: _Optional[int] = ..., seed: _Optional[int] = ..., parameter_bindings: _Optional[_Iterable[_Union[_common_pb2.ParameterBinding, _Mapping]]] = ..., noise_model: _Optional[str] = ..., outputs: _Optional[_Iterable[str]] = ...) -> None: ...

class ExecuteResponse(_message.Message):
    __slots__ = ("backend", "experiments", "seed", "calibration_id", "timings", "engine")
    class TimingsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    EXPERIMENTS_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    CALIBRATION_ID_FIELD_NUMBER: _ClassVar[int]
    TIMINGS_FIELD_NUMBER: _ClassVar[int]
    ENGINE_FIELD_NUMBER: _ClassVar[int]
    backend: str
    experiments: _containers.RepeatedCompositeFieldContainer[_common_pb2.Experiment]
    seed: int
    calibration_id: str
    timings: _containers.ScalarMap[str, float]
    engine: str
    def __init__(self, backend: _Optional[str] = ..., experiments: _Optional[_Iterable[_Union[_common_pb2.Experiment, _Mapping]]] = ..., seed: _Optional[int] = ..., calibration_id: _Optional[str] = ..., timings: _Optional[_Mapping[str, float]] = ..., engine: _Optional[str] = ...) -> None: ...

class EstimateRequest(_message.Message):
    __slots__ = ("device", "circuit_qpy", "observables", "parameter_bindings")
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    CIRCUIT_QPY_FIELD_NUMBER: _ClassVar[int]
    OBSERVABLES_FIELD_NUMBER: _ClassVar[int]
    PARAMETER_BINDINGS_FIELD_NUMBER: _ClassVar[int]
    device: str
    circuit_qpy: bytes
    observables: _containers.RepeatedCompositeFieldContainer[_common_pb2.Observable]
    parameter_bindings: _containers.RepeatedCompositeFieldContainer[_common_pb2.ParameterBinding]
    def __init__(self, device: _Optional[str] = ..., circuit_qpy: _Optional[bytes] = ..., observables: _Optional[_Iterable[_Union[_common_pb2.Observable, _Mapping]]] = ..., parameter_bindings: _Optional[_Iterable[_Union[_common_pb2.ParameterBinding, _Mapping]]] = ...) -> None: ...

class EstimateResponse(_message.Message):
    __slots__ = ("bindings",)
    class Values(_message.Message):
        __slots__ = ("values",)
        VALUES_FIELD_NUMBER: _ClassVar[int]
        values: _containers.RepeatedScalarFieldContainer[float]
        def __init__(self, values: _Optional[_Iterable[float]] = ...) -> None: ...
    BINDINGS_FIELD_NUMBER: _ClassVar[int]
    bindings: _containers.RepeatedCompositeFieldContainer[EstimateResponse.Values]
    def __init__(self, bindings: _Optional[_Iterable[_Union[EstimateResponse.Values, _Mapping]]] = ...) -> None: ...
