"""Fair shares from the policy file (src/eigen/security/policy.py ``fair_share``, read by the
kernel's order through :class:`~eigen.security.policy.PolicyShares`): a tenant of share 3
gets about three times the execute slots of one of share 1; the file wins over
``tenant_shares``, which stays the default; a reload (the file changed, or SIGHUP's forced
one) weighs the jobs queued after it; ``fair_share`` is a tenant rule's key only, checked
like the others; the server wires one policy file for the guard and the kernel, and a
kernel-only node reads it too."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from eigen.config.errors import InvalidSetting
from eigen.config.settings import Settings
from eigen.kernel.dispatch.memory import MemoryDispatch
from eigen.kernel.dispatch.port import Entry, Stage
from eigen.kernel.fair_order import FairOrder, StaticShares
from eigen.security.policy import PolicyFile, PolicyShares, parse_policy
from eigen.server.build import build

START = 1_800_000_000.0


class Clock:
    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def policy(research: float | None, lab: float | None = None) -> str:
    """A policy file of two tenant rules, with the shares given (None: no key)."""
    rules = []
    for tenant, share in (("research", research), ("lab", lab)):
        rules.append(
            f"{{tenant: {tenant}, max_queued_jobs: 1000{'' if share is None else f', fair_share: {share}'}}}"
        )
    return f"policies: [{', '.join(rules)}]\n"


def rewrite(path: Path, text: str) -> None:
    """Write ``text`` and move the file's time on, as a later edit would."""
    path.write_text(text)
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))


def slots(
    shares: PolicyShares | StaticShares, clock: Clock, first: int = 40, per_tenant: int = 40
) -> dict[str, int]:
    """Both tenants queue ``per_tenant`` jobs of 1 s on one device at once: how many of the
    ``first`` execute slots each gets."""
    dispatch = MemoryDispatch(order=FairOrder(policy="fair_share", cost_s=1.0, shares=shares, now=clock))
    for tenant in ("research", "lab"):
        dispatch.enqueue(
            Stage.EXECUTE, [Entry(f"{tenant}-{n}", 50, "sim:x", tenant) for n in range(per_tenant)]
        )
    got: dict[str, int] = {"research": 0, "lab": 0}
    for _ in range(first):
        claimed = dispatch.claim(Stage.EXECUTE, 1, 0)
        got[claimed[0].job_id.partition("-")[0]] += 1
        dispatch.ack(claimed)
    return got


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "policy.yaml"


def test_a_tenant_of_policy_share_3_gets_about_3x_the_slots_of_one_of_share_1(path: Path) -> None:
    path.write_text(policy(3, 1))
    got = slots(PolicyShares(PolicyFile(path)), Clock())
    assert got["research"] + got["lab"] == 40
    assert 29 <= got["research"] <= 31, got  # 3 : 1 of 40
    assert 2.6 <= got["research"] / got["lab"] <= 3.4, got


def test_the_policy_file_wins_over_tenant_shares_which_stays_the_default(path: Path) -> None:
    path.write_text(policy(None, 3))  # research's rule sets no share: tenant_shares has it
    shares = PolicyShares(PolicyFile(path), {"research": 3.0, "lab": 1.0, "other": 2.0})
    assert shares.share("lab") == 3.0  # the file's, not the setting's 1
    assert shares.share("research") == 3.0  # the setting's
    assert shares.share("other") == 2.0  # no rule: the setting's
    assert shares.share("nobody") == 1.0
    got = slots(shares, Clock())
    assert abs(got["research"] - got["lab"]) <= 1, got  # 3 : 3
    settings = Settings(tenant_shares={"research": 2.0})
    assert FairOrder.of(settings).shares.share("research") == 2.0  # no policy file: the setting
    assert FairOrder.of(settings, shares=shares).shares is shares


def test_a_reload_weighs_the_jobs_queued_after_it(path: Path) -> None:
    path.write_text(policy(1, 1))
    checks = Clock(0.0)
    source = PolicyFile(path, clock=checks)
    shares = PolicyShares(source)
    clock = Clock()
    assert slots(shares, clock) == {"research": 20, "lab": 20}

    rewrite(path, policy(3, 1))
    assert shares.share("research") == 1.0  # not looked at again within the second
    checks.now += 1.0  # PolicyFile.current's next look at the file
    assert shares.share("research") == 3.0 and source.reloads == 1
    clock.now += 1_000.0  # the earlier jobs' virtual time is behind the clock again
    got = slots(shares, clock)
    assert 29 <= got["research"] <= 31, got

    rewrite(path, "policies: [{tenant: research, fair_share: -1}]\n")  # broken: kept as it was
    checks.now += 1.0
    assert shares.share("research") == 3.0

    path.write_text(policy(2, 1))  # SIGHUP's reload: forced, whatever the file's time says
    source.request_reload()
    assert shares.share("research") == 2.0


def test_entries_queued_before_a_reload_keep_their_rank(path: Path) -> None:
    path.write_text(policy(1))
    checks = Clock(0.0)
    shares = PolicyShares(PolicyFile(path, clock=checks))
    order = FairOrder(policy="fair_share", cost_s=1.0, shares=shares, now=Clock())
    before = order.ranked([Entry(f"r-{n}", 50, "sim:x", "research") for n in range(3)])
    rewrite(path, policy(3))
    checks.now += 1.0
    again = order.ranked(before)  # given back: ranked already
    assert [e.rank for e in again] == [e.rank for e in before]


@pytest.mark.parametrize(
    ("text", "field", "words"),
    [
        (
            "policies: [{tenant: lab}, {client_id: ci, tenant: lab, fair_share: 2}]",
            "policies[1].fair_share",
            "a tenant's fair share, not a client's",
        ),
        ("policies: [{client_id: ci, fair_share: 2}]", "policies[0].fair_share", "not a client's"),
        ("policies: [{tenant: lab, fair_share: 0}]", "policies[0].fair_share", "greater than 0"),
        ("policies: [{tenant: lab, fair_share: -2}]", "policies[0].fair_share", "greater than 0"),
        ("policies: [{tenant: lab, fair_share: many}]", "policies[0].fair_share", "positive number"),
        ("policies: [{tenant: lab, fair_share: true}]", "policies[0].fair_share", "positive number"),
        ("policies: [{tenant: lab, fair_share: .inf}]", "policies[0].fair_share", "finite number"),
    ],
)
def test_fair_share_is_a_positive_number_of_a_tenant_rule(text: str, field: str, words: str) -> None:
    with pytest.raises(InvalidSetting) as wrong:
        parse_policy(text)
    assert [v.field for v in wrong.value.violations] == [field]
    assert f"{field}: " in str(wrong.value) and words in str(wrong.value)


def test_a_tenant_rule_with_only_a_share_limits_nothing(path: Path) -> None:
    from eigen.models.principal import Principal
    from eigen.models.quota import NO_QUOTA

    document = parse_policy("policies: [{tenant: lab, fair_share: 2.5}]")
    assert document.policies[0].fair_share == 2.5
    path.write_text("policies: [{tenant: lab, fair_share: 2.5}]")
    rules = PolicyFile(path).current()
    lab = Principal("lab", "alice", frozenset({"submitter"}), "api_key")
    rules.check(lab, "SubmitJob")  # no limit
    assert rules.quota(lab) is NO_QUOTA and rules.fair_share("lab") == 2.5


@pytest.mark.parametrize("roles", [["kernel", "compiler", "driver-manager", "api"], ["kernel"]])
def test_the_server_reads_one_policy_file_for_the_guard_and_the_shares(
    path: Path, tmp_path: Path, roles: list[str]
) -> None:
    """All roles: the kernel's shares follow the guard's policy file (one reload, SIGHUP's
    too). A kernel-only node: it reads the file itself, kept in ``stack.security`` for the
    SIGHUP handler."""
    path.write_text(policy(3))
    settings = Settings(
        data_dir=tmp_path / "data",
        policy_file=path,
        scheduling_policy="fair_share",
        tenant_shares={"lab": 2.0},
    )
    stack = build(settings, roles)
    try:
        assert stack.kernel is not None and stack.security is not None
        shares = stack.kernel.dispatch.order.shares
        assert isinstance(shares, PolicyShares)
        assert shares.source is stack.security.policy
        assert shares.share("research") == 3.0 and shares.share("lab") == 2.0
        if "api" not in roles:
            assert stack.api is None and stack.security.guard.policy is None
    finally:
        stack.close()
