"""The optimiser options table: names, types, ranges, and the values handed on."""

from __future__ import annotations

import pytest

from eigen.errors import InvalidArgument
from eigen.kernel.hybrid.optimizers import METHODS
from eigen.kernel.hybrid.options import OPTIONS, check_options


def test_every_optimizer_has_a_table() -> None:
    assert set(OPTIONS) == set(METHODS)
    for table in OPTIONS.values():
        assert not {"maxiter", "disp", "iprint", "return_all", "callback"} & set(table)


def test_values_are_handed_on_as_the_library_expects() -> None:
    checked = check_options("SPSA", {"learning_rate": 1, "perturbation": 0.5, "resamplings": 3}, 2)
    assert checked == {"learning_rate": 1.0, "perturbation": 0.5, "resamplings": 3}
    assert isinstance(checked["learning_rate"], float)
    assert check_options("COBYLA", {}, 0) == {}


@pytest.mark.parametrize(
    ("method", "options", "says"),
    [
        ("SPSA", {"resamplings": 10**400}, "<an integer of about"),
        ("SPSA", {"learning_rate": float("nan"), "perturbation": 0.1}, "must be above 0"),
        ("SPSA", {"blocking": 1}, "must be True or False"),
        ("Powell", {"maxfev": 2.0}, "must be a whole number"),
        ("COBYLA", {"x" * 5000: 1}, "(5000 chars)"),
        ("SPSA", {"perturbation": 0.1}, "'perturbation' of SPSA needs 'learning_rate' too"),
    ],
)
def test_refusals_name_the_option_and_stay_short(method: str, options: dict[str, object], says: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        check_options(method, options, 2)
    assert [v.field for v in caught.value.violations] == ["program"]
    assert says in caught.value.message and len(caught.value.message) < 600
