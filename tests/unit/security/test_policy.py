"""The policy file: parsing (errors name the field), rules, rates, quotas, certificates,
and reloading on change, on SIGHUP, and past a broken file."""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from pathlib import Path

import pytest

from eigen.config.errors import InvalidSetting
from eigen.config.settings import Settings
from eigen.errors import InvalidArgument, PermissionDenied, ResourceExhausted
from eigen.models.principal import Principal, unauthenticated
from eigen.models.quota import NO_QUOTA, Quota
from eigen.security.policy import PolicyFile, RulePolicy, parse_policy, policy_from, reload_on_sighup

ROADMAP = """
policies:
  - tenant: research
    allowed_operations: [SubmitJob, SubmitBatch, GetJob, ListJobs, WatchJob, GetJobResults]
    allowed_backends: ["sim:*", "emu:manila"]
    max_queued_jobs: 100
    rate_limit_per_minute: 300
    max_shots_per_job: 100000
    max_qubits_per_job: 20
  - client_id: ci-runner
    tenant: research
    rate_limit_per_minute: 60
certificates:
  - name: worker.research.example
    tenant: research
    subject: ci-runner
    roles: [submitter]
  - name: viewer.example
    tenant: lab
    roles: [viewer]
"""


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def who(tenant: str = "research", subject: str = "alice", *roles: str) -> Principal:
    return Principal(tenant, subject, frozenset(roles or ("submitter",)), "api_key")


def policy(text: str = ROADMAP, clock: Clock | None = None) -> RulePolicy:
    return RulePolicy(parse_policy(text), clock=clock or Clock())


# --- parsing ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "field", "words"),
    [
        ("policies: [{tenant: a, max_queued_job: 3}]", "policies[0].max_queued_job", "unknown key"),
        (
            "policies: [{tenant: a}, {tenant: b, max_queued_jobs: -1}]",
            "policies[1].max_queued_jobs",
            "at least 0",
        ),
        (
            "policies: [{tenant: a, rate_limit_per_minute: many}]",
            "policies[0].rate_limit_per_minute",
            "'many'",
        ),
        (
            "policies: [{tenant: a, allowed_operations: [Launch]}]",
            "policies[0].allowed_operations",
            "'Launch'",
        ),
        ("policies: [{max_queued_jobs: 1}]", "policies[0]", "tenant, a client_id"),
        ("certificates: [{name: x, tenant: a, roles: [root]}]", "certificates[0].roles", "'root'"),
        ("certificates: [{name: x, tenant: a}]", "certificates[0].roles", "required"),
        ("tenants: []", "tenants", "unknown key"),
        ("policies: [{tenant: a}, {tenant: a}]", "file", "policies[1] names the same tenant"),
        ("- just a list", "file", "must be a mapping"),
        ("policies: [", "file", "not valid YAML"),
    ],
)
def test_a_mistake_in_the_file_names_its_field(text: str, field: str, words: str) -> None:
    with pytest.raises(InvalidSetting) as caught:
        parse_policy(text, "/etc/eigen/policy.yaml")
    error = caught.value
    assert isinstance(error, InvalidArgument)  # exit code 2 in both CLIs
    assert str(error).startswith("policy file /etc/eigen/policy.yaml")
    assert [v.field for v in error.violations] == [field]
    assert words in str(error)
    assert field == "file" or f"{field}: " in str(error)


def test_no_rules_allow_everything_and_an_empty_file_is_refused() -> None:
    empty = policy("policies: []")
    empty.check(who(), "CancelJob", backend="qpu:big")
    assert empty.quota(who()) == NO_QUOTA
    with pytest.raises(InvalidSetting, match="is empty"):
        parse_policy("  \n# nothing\n")


def test_a_missing_file_at_start_is_a_settings_error(tmp_path: Path) -> None:
    with pytest.raises(InvalidSetting, match=r"cannot read policy file .*policy_file"):
        PolicyFile(tmp_path / "nope.yaml")
    settings = Settings(policy_file=tmp_path / "nope.yaml")
    with pytest.raises(InvalidSetting):
        policy_from(settings)
    assert policy_from(Settings()) is None


# --- rules -----------------------------------------------------------------------------


def test_operations_by_rpc_or_permission_name() -> None:
    rules = policy()
    rules.check(who(), "SubmitJob", backend="sim:aer")
    with pytest.raises(PermissionDenied) as caught:
        rules.check(who(), "CancelJob")
    assert caught.value.metadata["operation"] == "CancelJob"
    assert caught.value.metadata["permission"] == "jobs.cancel"
    by_permission = policy("policies: [{tenant: lab, allowed_operations: [jobs.read]}]")
    by_permission.check(who("lab"), "GetJob")
    by_permission.check(who("lab"), "StreamResults")
    with pytest.raises(PermissionDenied, match="may not call SubmitJob"):
        by_permission.check(who("lab"), "SubmitJob")


def test_backends_match_patterns_and_a_refusal_names_the_backend() -> None:
    rules = policy()
    rules.check(who(), "SubmitJob", backend="sim:aer")
    rules.check(who(), "SubmitJob", backend="emu:manila")
    with pytest.raises(PermissionDenied) as caught:
        rules.check(who(), "SubmitJob", backend="emu:kyiv")
    assert caught.value.metadata["backend"] == "emu:kyiv"
    assert "'emu:kyiv'" in str(caught.value) and "sim:*" in str(caught.value)
    rules.check(who(), "GetJob")  # no backend: nothing to match


def test_principals_no_rule_names_are_allowed() -> None:
    rules = policy()
    rules.check(who("other"), "CancelJob", backend="qpu:anything")
    assert rules.quota(who("other")) == NO_QUOTA


def test_a_client_rule_overrides_its_tenants_rule_key_by_key() -> None:
    rules = policy()
    ci = rules.rules_of(who("research", "ci-runner"))
    assert ci.get("rate_limit_per_minute") == 60
    assert ci.get("max_queued_jobs") == 100  # kept from the tenant
    assert ci.rate_scope == "client:research/ci-runner"
    # narrowed to tenant research: a ci-runner of another tenant is not that client
    assert not rules.rules_of(who("lab", "ci-runner")).values
    anywhere = policy("policies: [{client_id: bot, max_shots_per_job: 10}]")
    assert anywhere.quota(who("lab", "bot")) == Quota(max_shots_per_job=10)
    assert anywhere.quota(who("research", "bot")) == Quota(max_shots_per_job=10)


def test_an_admin_is_limited_only_by_a_client_rule_naming_it() -> None:
    rules = policy(ROADMAP + "  \n")
    root = who("research", "root", "admin")
    rules.check(root, "CancelJob", backend="qpu:big")
    assert rules.quota(root) == NO_QUOTA
    named = policy(
        "policies: [{tenant: research, max_queued_jobs: 1}, {client_id: root, allowed_backends: []}]"
    )
    with pytest.raises(PermissionDenied):
        named.check(root, "SubmitJob", backend="sim:aer")
    assert named.quota(root) == NO_QUOTA  # the tenant's quota still does not apply
    # authentication off: every call has every role, but is no admin for the policy
    assert named.quota(unauthenticated("bob")) == NO_QUOTA  # tenant default: no rule
    on_default = policy("policies: [{tenant: default, max_queued_jobs: 1}]")
    assert on_default.quota(unauthenticated("bob")) == Quota(max_queued_jobs=1)


def test_quota_from_the_rules() -> None:
    assert policy().quota(who()) == Quota(
        max_queued_jobs=100, max_shots_per_job=100000, max_qubits_per_job=20
    )


def test_certificates_map_a_cn_or_san_to_a_principal() -> None:
    rules = policy()
    found = rules.certificate_principal(["unknown.example", "worker.research.example"])
    assert found == Principal("research", "ci-runner", frozenset({"submitter"}), "mtls")
    assert rules.certificate_principal(["viewer.example"]) == Principal(
        "lab", "viewer.example", frozenset({"viewer"}), "mtls"
    )
    assert rules.certificate_principal(["WORKER.research.example"]) is None  # exact match only
    assert rules.certificate_principal([]) is None


# --- rates -----------------------------------------------------------------------------


def test_rate_limit_per_minute_counts_every_call_and_says_when_to_retry() -> None:
    clock = Clock()
    rules = policy("policies: [{tenant: lab, rate_limit_per_minute: 3}]", clock)
    for operation in ("SubmitJob", "GetJob", "ListJobs"):
        rules.check(who("lab"), operation)
    with pytest.raises(ResourceExhausted) as caught:
        rules.check(who("lab", "bob"), "GetJob")  # the tenant's bucket: shared by its principals
    assert caught.value.metadata["limit"] == "rate_limit_per_minute"
    assert caught.value.metadata["value"] == "3"
    assert float(caught.value.metadata["retry_after_s"]) == pytest.approx(20.0)
    clock.now += 20.0  # 3 per minute: one token every 20 s
    rules.check(who("lab"), "GetJob")
    with pytest.raises(ResourceExhausted):
        rules.check(who("lab"), "GetJob")
    rules.check(who("other"), "GetJob")  # another tenant: not limited


def test_a_client_rule_with_a_rate_has_its_own_bucket() -> None:
    rules = policy(
        "policies: [{tenant: lab, rate_limit_per_minute: 1}, {client_id: ci, rate_limit_per_minute: 2}]"
    )
    rules.check(who("lab", "ci"), "GetJob")
    rules.check(who("lab", "ci"), "GetJob")
    rules.check(who("lab", "alice"), "GetJob")
    with pytest.raises(ResourceExhausted):
        rules.check(who("lab", "ci"), "GetJob")
    with pytest.raises(ResourceExhausted):
        rules.check(who("lab", "bob"), "GetJob")


def test_a_refused_operation_spends_no_rate() -> None:
    rules = policy("policies: [{tenant: lab, rate_limit_per_minute: 1, allowed_operations: [GetJob]}]")
    with pytest.raises(PermissionDenied):
        rules.check(who("lab"), "CancelJob")
    rules.check(who("lab"), "GetJob")


# --- reloading -------------------------------------------------------------------------


def write(path: Path, text: str, bump: int = 0) -> None:
    path.write_text(text, encoding="utf-8")
    if bump:
        stat = path.stat()
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + bump * 1_000_000_000))


LAB_1 = "policies: [{tenant: lab, max_queued_jobs: 1}]"
LAB_2 = "policies: [{tenant: lab, max_queued_jobs: 2}]"


def test_the_file_is_reloaded_when_it_changes_at_most_once_a_second(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    write(path, LAB_1)
    clock = Clock()
    source = PolicyFile(path, clock=clock)
    first = source.current()
    write(path, LAB_2, bump=1)
    clock.now += 0.5
    assert source.current() is first  # not looked at yet
    clock.now += 0.5
    assert source.current().quota(who("lab")).max_queued_jobs == 2
    again = source.current()
    clock.now += 5
    assert source.current() is again  # unchanged file: the same policy
    assert source.reloads == 1


def test_a_broken_file_keeps_the_previous_policy_and_says_why_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "policy.yaml"
    write(path, LAB_1)
    clock = Clock()
    source = PolicyFile(path, clock=clock)
    write(path, "policies: [{tenant: lab, max_queued_jobs: lots}]", bump=1)
    with caplog.at_level(logging.WARNING, logger="eigen.security.policy"):
        clock.now += 1
        assert source.current().quota(who("lab")).max_queued_jobs == 1
        clock.now += 1
        assert source.current().quota(who("lab")).max_queued_jobs == 1
        warnings = [r for r in caplog.records if r.name == "eigen.security.policy"]
        assert len(warnings) == 1
        assert "policies[0].max_queued_jobs" in warnings[0].reason  # type: ignore[attr-defined]
        assert "keeping the previous policy" in warnings[0].getMessage()
        path.unlink()
        clock.now += 1
        assert source.current().quota(who("lab")).max_queued_jobs == 1
        assert "cannot read policy file" in caplog.records[-1].reason  # type: ignore[attr-defined]
    write(path, LAB_2, bump=2)
    clock.now += 1
    assert source.current().quota(who("lab")).max_queued_jobs == 2


def test_buckets_survive_a_reload_unless_the_rate_changes(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    write(path, "policies: [{tenant: lab, rate_limit_per_minute: 1}]")
    clock = Clock()
    source = PolicyFile(path, clock=clock, rate_clock=clock)
    source.current().check(who("lab"), "GetJob")
    write(path, "policies: [{tenant: lab, rate_limit_per_minute: 1, max_queued_jobs: 5}]", bump=1)
    clock.now += 1
    with pytest.raises(ResourceExhausted):
        source.current().check(who("lab"), "GetJob")  # the same rate: the same, empty bucket
    write(path, "policies: [{tenant: lab, rate_limit_per_minute: 2}]", bump=2)
    clock.now += 1
    source.current().check(who("lab"), "GetJob")  # a new rate starts full


def test_sighup_reloads_at_once(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    write(path, LAB_1)
    stat = path.stat()
    clock = Clock()
    source = PolicyFile(path, clock=clock)
    write(path, LAB_2)  # the same size; the old modification time put back: looks unchanged
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    clock.now += 60
    assert source.current().quota(who("lab")).max_queued_jobs == 1
    previous = signal.getsignal(signal.SIGHUP)
    try:
        reload_on_sighup(source)
        os.kill(os.getpid(), signal.SIGHUP)
        deadline = time.monotonic() + 10  # the handler runs at the main thread's next bytecodes
        while source.reloads == 0 and time.monotonic() < deadline:
            pass
        assert source.reloads == 1
        assert source.current().quota(who("lab")).max_queued_jobs == 2
    finally:
        signal.signal(signal.SIGHUP, previous)


def test_sighup_handler_is_installed_from_the_main_thread_only(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    write(path, LAB_1)
    source = PolicyFile(path)
    failed: list[BaseException] = []

    def install() -> None:
        try:
            reload_on_sighup(source)
        except RuntimeError as exc:
            failed.append(exc)

    thread = threading.Thread(target=install)
    thread.start()
    thread.join()
    assert failed and "main thread" in str(failed[0])
