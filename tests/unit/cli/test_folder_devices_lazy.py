"""A folder read that lists no backends does not read the recorded device list: checking
the record's fingerprint scans every installed distribution's entry points, which
``status``, ``jobs`` and ``results`` of the data folder need not pay."""

from __future__ import annotations

from pathlib import Path

import pytest

from eigen.errors import NotFound
from eigen.kernel.store.base import JobFilter
from eigen.models.target import DeviceInfo, DeviceStatus
from eigen.server import folder_view
from eigen.server.folder_view import FolderKernel, open_view, record_devices, store_file

DEVICE = DeviceInfo(
    name="sim:test",
    num_qubits=2,
    basis_gates=("cx", "rz"),
    coupling_map=None,
    max_shots=100,
    status=DeviceStatus.ONLINE,
    noisy=False,
    clifford_only=False,
    calibration_id="",
    description="a device recorded by a listing",
    aliases=("test",),
)


def test_the_device_record_is_read_only_when_backends_are_listed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    record_devices(tmp_path, [DEVICE])
    scans: list[str] = []
    real = folder_view.drivers_fingerprint

    def counted() -> str:
        scans.append("scan")
        return real()

    monkeypatch.setattr(folder_view, "drivers_fingerprint", counted)
    path = store_file(tmp_path, "")
    assert path is not None
    view = open_view(path, tmp_path)  # no store yet: a folder without jobs
    assert view is not None
    kernel = FolderKernel(view)
    assert kernel.list_jobs(JobFilter()) == []
    with pytest.raises(NotFound):
        kernel.get("nosuchjob")
    assert scans == []  # no read of the record for jobs
    assert kernel.list_devices() == [DEVICE]
    assert kernel.device("test") == DEVICE
    assert scans == ["scan"]  # read once, when first asked for


def test_a_given_device_list_is_used_as_it_is(tmp_path: Path) -> None:
    view = open_view(tmp_path / "eigen.db", tmp_path)
    assert view is not None
    assert FolderKernel(view, [DEVICE]).list_devices() == [DEVICE]
    assert FolderKernel(view).devices is None  # nothing recorded in this folder
