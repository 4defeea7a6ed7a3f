"""Server settings: defaults < EIGEN_* environment variables < flags (entry points only)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

Role = Literal["all", "api", "kernel", "compiler", "driver-manager"]
ROLES: tuple[str, ...] = ("api", "kernel", "compiler", "driver-manager")


def default_data_dir() -> Path:
    return Path.home() / ".eigen"


class Settings(BaseSettings):
    """Every key can be set as ``EIGEN_<KEY>`` (e.g. ``EIGEN_DATA_DIR``) or as a flag."""

    model_config = SettingsConfigDict(env_prefix="EIGEN_", extra="ignore")

    data_dir: Path = Field(default_factory=default_data_dir, description="SQLite file and artifacts")
    database_url: str = Field(default="", description="job store URL; default: SQLite in data_dir")
    host: str = Field(default="127.0.0.1", description="address the gRPC server binds")
    port: int = Field(default=50051, ge=0, le=65535, description="gRPC port; 0 picks a free one")
    http_port: int | None = Field(
        default=None, ge=0, le=65535, description="REST gateway, health and metrics port; unset: no HTTP"
    )
    role: Role = Field(default="all", description="all roles in one process, or one of them")
    kernel_address: str = Field(default="127.0.0.1:50052", description="KernelService, for api")
    compiler_address: str = Field(default="127.0.0.1:50053", description="CompilationService")
    driver_manager_address: str = Field(default="127.0.0.1:50054", description="DriverManagerService")
    grpc_workers: int = Field(default=64, ge=4, description="threads serving RPCs (watch holds one)")
    compile_workers: int = Field(default=1, ge=1)
    execute_workers: int = Field(default=2, ge=1)
    queue_capacity: int = Field(default=10_000, ge=1)
    default_timeout_s: float = Field(default=3600.0, gt=0, description="job timeout when unset")
    max_message_bytes: int = Field(default=64 * 1024 * 1024, ge=1024)

    @property
    def sqlite_path(self) -> Path:
        return self.data_dir / "eigen.db"

    @property
    def store_url(self) -> str:
        return self.database_url or f"sqlite:///{self.sqlite_path}"
