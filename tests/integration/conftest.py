"""A real embedded Eigen server on a free loopback port, with a real SQLite file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from eigen.proto.api.v1 import jobs_pb2_grpc
from eigen.server.embedded import EmbeddedServer


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedServer]:
    data_dir: Path = tmp_path_factory.mktemp("eigen-data")
    with EmbeddedServer(data_dir=data_dir) as running:
        yield running


@pytest.fixture(scope="module")
def channel(server: EmbeddedServer) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(server.address) as opened:
        yield opened


@pytest.fixture(scope="module")
def jobs(channel: grpc.Channel) -> jobs_pb2_grpc.JobServiceStub:
    return jobs_pb2_grpc.JobServiceStub(channel)


@pytest.fixture(scope="module")
def backends(channel: grpc.Channel) -> jobs_pb2_grpc.BackendServiceStub:
    return jobs_pb2_grpc.BackendServiceStub(channel)
