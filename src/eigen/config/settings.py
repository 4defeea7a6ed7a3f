"""Server settings: one model, loaded only by entry points.

Precedence, lowest first (each later source overrides the earlier ones key by key):

1. defaults (this model),
2. the YAML file named by ``config_file`` (flag ``--config``, or ``EIGEN_CONFIG``),
3. the ``.env`` file, where present and where the entry point asks for it
   (:func:`eigen.config.loader.load_settings` does; ``Settings()`` alone does not),
4. ``EIGEN_*`` environment variables,
5. flags (keyword arguments).

``Settings()`` with no arguments is defaults + ``EIGEN_*`` variables (+ the YAML file of
``EIGEN_CONFIG`` if that is set). docs/configuration.md lists every key; a test keeps it
in step with this model.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    InitSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)
from pydantic_settings.exceptions import SettingsError

from eigen.config.errors import InvalidSetting, invalid_settings
from eigen.config.yaml_source import YamlFileSource
from eigen.models import limits

Role = Literal["all", "api", "kernel", "compiler", "driver-manager"]
ROLES: tuple[str, ...] = ("api", "kernel", "compiler", "driver-manager")
Dispatch = Literal["auto", "memory", "postgres"]
CONFIG_ENV = "EIGEN_CONFIG"


def default_data_dir() -> Path:
    return Path.home() / ".eigen"


class Settings(BaseSettings):
    """Every key can be set in the YAML file, as ``EIGEN_<KEY>`` (e.g. ``EIGEN_DATA_DIR``)
    or, where the command has one, as a flag."""

    model_config = SettingsConfigDict(
        env_prefix="EIGEN_", extra="ignore", populate_by_name=True, env_file=None
    )

    config_file: Path | None = Field(
        default=None,
        validation_alias=AliasChoices(CONFIG_ENV),
        description="YAML settings file (flag --config); its keys are the keys of this table",
    )
    data_dir: Path = Field(default_factory=default_data_dir, description="SQLite file and artifacts")
    database_url: str = Field(
        default="",
        description="job store: sqlite:///PATH or postgresql+psycopg://USER@HOST:PORT/DB; "
        "empty: SQLite file eigen.db in data_dir",
    )
    database_password: SecretStr | None = Field(
        default=None,
        description="password added to database_url when the URL has none (keeps it out of files)",
    )
    database_auto_migrate: bool = Field(
        default=True,
        description="upgrade the schema to head when the store opens; off: refuse to start "
        "until `eigen-server migrate` ran",
    )
    database_pool_size: int = Field(default=5, ge=1, description="connections kept open per process")
    database_max_overflow: int = Field(default=10, ge=0, description="extra connections under load")
    database_pool_timeout_s: float = Field(default=30.0, gt=0, description="wait for a free connection")
    database_pool_recycle_s: float = Field(
        default=1800.0, ge=0, description="reopen connections older than this; 0: never"
    )
    result_retention_days: float | None = Field(
        default=None, ge=0, description="expire results older than this many days; unset or 0: keep forever"
    )
    result_retention_interval_s: float = Field(
        default=3600.0, gt=0, description="how often a server expires old results"
    )
    host: str = Field(default="127.0.0.1", description="address the gRPC server binds")
    port: int = Field(default=50051, ge=0, le=65535, description="gRPC port; 0 picks a free one")
    http_port: int | None = Field(
        default=None, ge=0, le=65535, description="REST gateway, health and metrics port; unset: no HTTP"
    )
    role: str = Field(
        default="all",
        description="all roles in one process, or some of them, comma-separated "
        "(api, kernel, compiler, driver-manager; e.g. kernel,compiler,driver-manager)",
    )
    kernel_address: str = Field(default="127.0.0.1:50052", description="KernelService, for api")
    kernel_addresses: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="several KernelServices for an api node (client-side balancing, failover on "
        "UNAVAILABLE), comma-separated (EIGEN_KERNEL_ADDRESSES=h1:p1,h2:p2) or a list; "
        "empty: kernel_address alone",
    )
    compiler_address: str = Field(default="127.0.0.1:50053", description="CompilationService")
    driver_manager_address: str = Field(default="127.0.0.1:50054", description="DriverManagerService")
    grpc_workers: int = Field(
        default=64, ge=4, description="threads for RPC work that may block (a watch holds none)"
    )
    compile_workers: int = Field(default=1, ge=1, description="kernel threads compiling jobs")
    execute_workers: int = Field(default=2, ge=1, description="kernel threads executing jobs")
    driver_processes: int | None = Field(
        default=None,
        ge=0,
        le=64,
        description="worker processes running circuits of the entry-point drivers; 0: in process; "
        "unset: 1 in eigen-server serve, 0 in an embedded stack",
    )
    worker_memory_bytes: int = Field(
        default=0,
        ge=0,
        description="memory the simulator runs of this worker may hold at once (states and engine "
        "overhead); a job that needs more is refused at submit (RESOURCE_EXHAUSTED); 0: 75% of "
        "the machine's memory, or of the cgroup limit (memory.max) when lower",
    )
    artifact_writer: bool | None = Field(
        default=None,
        description="write job artifacts from a writer process, a batch at a time; "
        "unset: on in eigen-server serve, off in an embedded stack",
    )
    queue_capacity: int = Field(default=10_000, ge=1, description="queued jobs before submit is refused")
    default_timeout_s: float = Field(default=3600.0, gt=0, description="job timeout when unset")
    max_message_bytes: int = Field(default=64 * 1024 * 1024, ge=1024, description="largest gRPC message")
    compile_timeout_s: float = Field(
        default=300.0, ge=0, description="a compile running longer ends its job in TIMEOUT; 0: no limit"
    )
    program_check_workers: int = Field(
        default=1, ge=1, le=64, description="sandbox processes parsing and checking program text"
    )
    program_check_timeout_s: float = Field(
        default=8.0, gt=0, description="longest parse of one program; past it: INVALID_ARGUMENT"
    )
    program_check_memory_mib: int = Field(
        default=1024,
        ge=64,
        description="parser memory per program, beyond the worker's own; past it: INVALID_ARGUMENT",
    )
    rate_limit_per_s: float = Field(
        default=0.0, ge=0, description="SubmitJob/SubmitBatch calls per second per caller; 0: no limit"
    )
    rate_limit_burst: int = Field(
        default=0, ge=0, description="rate-limit bucket size; 0: the rate rounded up"
    )
    shutdown_grace_s: float = Field(
        default=30.0, ge=0, description="on SIGTERM/SIGINT: time for running jobs and in-flight RPCs"
    )
    otlp_endpoint: str = Field(
        default="", description="OTLP collector for traces: host:4317 or http://host:4318/v1/traces"
    )
    log_format: Literal["json", "console"] = Field(default="json", description="log lines: json or console")

    # -- security (docs/security.md) ---------------------------------------------------------
    auth_required: bool = Field(
        default=False,
        description="authenticate every public call (mTLS, JWT or API key); off: the caller is "
        "the x-eigen-caller header, in the default tenant, with every role",
    )
    insecure: bool = Field(
        default=False,
        description="allow serving a host other than loopback without TLS and authentication "
        "(flag --insecure; warned at start and in /health/ready)",
    )
    tls_cert_file: Path | None = Field(
        default=None, description="PEM certificate (chain) of gRPC and HTTPS; re-read when it changes"
    )
    tls_key_file: Path | None = Field(default=None, description="PEM private key of tls_cert_file")
    tls_client_ca_file: Path | None = Field(
        default=None, description="PEM CA bundle of client certificates; set: every client needs one (mTLS)"
    )
    api_key_secret: SecretStr | None = Field(
        default=None,
        description="server secret of the keyed hash API keys are stored as (HMAC-SHA256); "
        "unset: the file api-key.secret in data_dir, made on first use",
    )
    api_key_cache_s: float = Field(
        default=1.0,
        ge=0,
        le=1.0,
        description="how long an api node trusts a looked-up API key (revocation delay)",
    )
    jwt_jwks_url: str = Field(
        default="", description="JWKS of the identity provider (cached; refetched on an unknown kid)"
    )
    jwt_jwks_file: Path | None = Field(default=None, description="JWKS file, instead of jwt_jwks_url")
    jwt_issuer: str = Field(
        default="", description="required iss of tokens; JWT is on when a JWKS or HMAC secret is set"
    )
    jwt_audience: str = Field(default="", description="required aud of tokens")
    jwt_algorithms: list[str] = Field(
        default_factory=lambda: ["RS256", "PS256", "ES256", "EdDSA"],
        description="accepted asymmetric algorithms (none and HMAC never, unless jwt_hmac_secret is set)",
    )
    jwt_hmac_secret: SecretStr | None = Field(
        default=None, description="shared secret: set on purpose, it also accepts HS256 tokens"
    )
    jwt_leeway_s: float = Field(
        default=30.0, ge=0, le=600, description="clock skew allowed on exp, nbf and iat"
    )
    oidc_issuer: str = Field(
        default="",
        description="OpenID Connect provider the dashboard signs in with (authorization code with "
        "PKCE, in the browser); its tokens must pass the jwt_* checks; empty: no such sign-in",
    )
    oidc_client_id: str = Field(
        default="", description="the dashboard's client id at oidc_issuer (a public client: no secret)"
    )
    oidc_scopes: str = Field(default="openid", description="the scopes the dashboard asks oidc_issuer for")
    jwt_tenant_claim: str = Field(default="tenant", description="claim naming the tenant")
    jwt_subject_claim: str = Field(default="sub", description="claim naming the subject")
    jwt_roles_claim: str = Field(
        default="roles", description="claim listing the roles (a list or a space-separated string)"
    )
    jwks_cache_s: float = Field(default=300.0, gt=0, description="how long a fetched JWKS is trusted")
    policy_file: Path | None = Field(
        default=None,
        description="YAML policy: roles, allowed operations and backends, quotas per tenant or "
        "client; reloaded when it changes or on SIGHUP",
    )
    internal_token: SecretStr | None = Field(
        default=None,
        description="service token of the internal edges (api -> kernel -> compiler, driver-manager); "
        "set: an internal call without it is refused",
    )

    dispatch: Dispatch = Field(
        default="auto",
        description="how work reaches the kernel's workers: memory (one kernel per store), "
        "postgres (a PostgreSQL job queue: several kernels on one database); auto: postgres "
        "when database_url is PostgreSQL, else memory",
    )
    node_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=limits.NODE_ID_MAX,
        description="this node's name in leases and logs; unset: host name and process id",
    )
    lease_s: float = Field(
        default=10.0, gt=0, description="how long a worker's claim on a job lasts without a heartbeat"
    )
    max_attempts: int = Field(
        default=3,
        ge=1,
        description="runs of a job whose worker vanished before it ends in ERROR (dead letter)",
    )
    redis_url: str | None = Field(
        default=None,
        description="Redis for event fan-out to every api node and shared rate limits; "
        "unset: PostgreSQL LISTEN/NOTIFY (cluster) or in process",
    )

    # -- scheduling (docs/scheduling.md) -----------------------------------------------------
    scheduling_policy: Literal["fifo", "priority", "fair_share"] | None = Field(
        default=None,
        description="order of the queues: fifo, priority (with aging) or fair_share (per tenant, "
        "then priority); unset: fair_share when auth_required is on, else priority",
    )
    scheduling_aging_step_s: float = Field(
        default=10.0,
        gt=0,
        le=86_400,
        description="a waiting job gains one priority point per this many seconds (aging)",
    )
    scheduling_job_cost_s: float = Field(
        default=1.0,
        ge=0.1,
        le=86_400,
        description="device seconds fair share charges a tenant per job on a device with no "
        "measured run yet (then its mean run time)",
    )
    tenant_shares: dict[str, Annotated[float, Field(gt=0)]] = Field(
        default_factory=dict,
        description="fair share per tenant, relative (a tenant of share 2 gets twice the device "
        "time of one of share 1); absent: 1; a tenant rule's fair_share in the policy file wins",
    )
    device_capacity: dict[str, Annotated[int, Field(ge=0)]] = Field(
        default_factory=dict,
        description="concurrent executions per device (e.g. {qpu:x: 1}); absent or 0: as many as "
        "there are execute workers",
    )
    session_hold_s: float = Field(
        default=5.0,
        ge=0,
        description="how long a session holds its device after its last activity (a job submitted "
        "or run in it): no other job starts on the device meanwhile; 0: sessions hold nothing",
    )

    def __init__(self, **values: Any) -> None:
        """Load and validate; a bad value is an :class:`~eigen.config.errors.InvalidSetting`
        naming the setting and its variable (one line), not pydantic's report."""
        try:
            super().__init__(**values)
        except InvalidSetting:
            raise
        except (ValidationError, SettingsError) as exc:
            raise invalid_settings(exc, {"config_file": CONFIG_ENV}) from None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Highest priority first: flags, EIGEN_* variables, .env, YAML file."""
        path = _config_path(init_settings, env_settings, dotenv_settings)
        return (init_settings, env_settings, dotenv_settings, YamlFileSource(settings_cls, path))

    @field_validator("kernel_addresses", mode="before")
    @classmethod
    def _address_list(cls, value: Any) -> Any:
        """``h1:p1,h2:p2`` (a variable or flag) or a YAML/JSON list."""
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                try:
                    return json.loads(text)
                except json.JSONDecodeError:
                    raise ValueError("neither a JSON list of addresses nor h1:p1,h2:p2") from None
            return [part.strip() for part in text.split(",") if part.strip()]
        return value

    @field_validator("oidc_issuer")
    @classmethod
    def _issuer_url(cls, value: str) -> str:
        """An http(s) URL without a trailing slash (what discovery and ``iss`` use)."""
        if value and not value.startswith(("https://", "http://")):
            raise ValueError(
                "an http(s) URL of the provider (its discovery is at /.well-known/openid-configuration)"
            )
        return value.rstrip("/")

    @field_validator("role")
    @classmethod
    def _known_roles(cls, value: str) -> str:
        """``all``, or a comma-separated set of the four roles (kept in ROLES' order)."""
        names = {part.strip() for part in value.split(",") if part.strip()}
        if names == {"all"} or names >= set(ROLES):
            return "all"
        unknown = sorted(names - set(ROLES))
        if unknown or not names:
            choices = f"all, or some of {', '.join(ROLES)}, comma-separated"
            raise ValueError(
                f"unknown role {', '.join(unknown)}: {choices}" if unknown else f"no role: {choices}"
            )
        return ",".join(role for role in ROLES if role in names)

    @property
    def roles(self) -> tuple[str, ...]:
        """The roles this process runs."""
        return ROLES if self.role == "all" else tuple(self.role.split(","))

    @property
    def sqlite_path(self) -> Path:
        return self.data_dir / "eigen.db"

    @property
    def store_url(self) -> str:
        """The job store URL, with ``database_password`` filled in where the URL has none."""
        if not self.database_url:
            return f"sqlite:///{self.sqlite_path}"
        if self.database_password is None:
            return self.database_url
        from sqlalchemy.engine import make_url

        url = make_url(self.database_url)
        if url.password:
            return self.database_url
        return url.set(password=self.database_password.get_secret_value()).render_as_string(
            hide_password=False
        )


def _config_path(*sources: PydanticBaseSettingsSource) -> Path | None:
    """The YAML file named by a flag, else by EIGEN_CONFIG (or EIGEN_CONFIG_FILE, which
    pydantic-settings also maps to the field) in the environment, else in .env."""
    for source in sources:
        if isinstance(source, InitSettingsSource):
            names: tuple[str, ...] = (CONFIG_ENV, "config_file")
            values: Mapping[str, Any] = source.init_kwargs
        else:
            names = (CONFIG_ENV.lower(), f"{CONFIG_ENV.lower()}_file")
            values = getattr(source, "env_vars", {})
        for name in names:
            if values.get(name):
                return Path(values[name])
    return None
