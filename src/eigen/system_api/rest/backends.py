"""BackendService over HTTP."""

from __future__ import annotations

from fastapi import APIRouter

from eigen.system_api.rest import convert
from eigen.system_api.rest.problems import ERRORS
from eigen.system_api.rest.schemas import Backend, Calibration, ListBackendsResponse
from eigen.system_api.service import JobApi


def backends_router(api: JobApi) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["backends"], responses=ERRORS)

    @router.get("/backends", operation_id="ListBackends")
    def list_backends() -> ListBackendsResponse:
        """ListBackends, each with the current queue depth."""
        return ListBackendsResponse(backends=[convert.device_to_rest(d, n) for d, n in api.backends()])

    @router.get("/backends/{name}", operation_id="GetBackend")
    def get_backend(name: str) -> Backend:
        """GetBackend by name or alias (e.g. ``sim:local``)."""
        device, depth = api.backend(name)
        return convert.device_to_rest(device, depth)

    @router.get("/backends/{name}/calibration", operation_id="GetCalibration")
    def get_calibration(name: str) -> Calibration:
        """GetCalibration: per-qubit and per-gate properties of the latest calibration."""
        return convert.calibration_to_rest(api.calibration(name))

    return router
