"""A request written back as the JobSpec 1.0 document that resubmits it (``job.yaml``).

:func:`document_of` is the inverse of reading a job file: the kept sections
(``JobRequest.extensions``) go back where they came from, the typed fields into
``spec.metadata``, ``metadata`` and ``spec``, and the program is named by a file next to
the document. Reading the result (with the same program text) gives an equal request.
"""

from __future__ import annotations

import copy
from typing import Any

from eigen.models.job import JobRequest
from eigen.models.outputs import DEFAULT_OUTPUTS

API_V1 = "eigen.os/v1"
API_V01 = "eigen.os/v0.1"
KIND = "QuantumJob"

_SECTIONS = ("runtime", "resources", "scheduling", "observability", "security", "artifacts")
_SPEC_SECTIONS = ("compiler", "compiler_options")
_TYPED = ("shots", "seed", "optimization_level", "timeout_seconds")


def document_of(request: JobRequest, program_file: str) -> dict[str, Any]:
    """The ``eigen.os/v1`` document of ``request``, its program at ``program_file``
    (relative to the document's folder). A request whose program is still only a stored
    reference (``program_uri`` and no text) names that reference instead."""
    kept = copy.deepcopy(request.extensions)
    metadata: dict[str, Any] = {"name": request.name, "namespace": request.namespace}
    if request.labels:
        metadata["labels"] = dict(request.labels)
    if request.annotations:
        metadata["annotations"] = dict(request.annotations)
    program: dict[str, Any] = (
        {"uri": request.program_uri}
        if request.program_uri and not request.program
        else {"path": program_file}
    )
    program["language"] = request.language.value
    spec: dict[str, Any] = {
        "target": request.target,
        "program": program,
        "entrypoint": request.entrypoint,
        "priority": request.priority,
    }
    run_settings: dict[str, Any] = dict(request.options)
    for key in _TYPED:
        value = getattr(request, key)
        if value is not None:
            run_settings[key] = value
    if request.outputs != DEFAULT_OUTPUTS:
        run_settings["outputs"] = ",".join(output.value for output in request.outputs)
    if run_settings:
        spec["metadata"] = run_settings
    for key in _SPEC_SECTIONS:
        if key in kept:
            spec[key] = kept[key]
    if request.parameter_bindings:
        spec["parameters"] = [dict(binding) for binding in request.parameter_bindings]
    elif "parameters" in kept:
        spec["parameters"] = kept["parameters"]
    if request.observables:
        spec["observables"] = [dict(observable) for observable in request.observables]
    dependencies = [*request.dependencies, *kept.get("dependencies", [])]
    if dependencies:
        spec["dependencies"] = dependencies
    workload = _workload(request, kept.get("workload"))
    if workload is not None:
        spec["workload"] = workload
    document: dict[str, Any] = {"apiVersion": API_V1, "kind": KIND, "metadata": metadata, "spec": spec}
    for key in _SECTIONS:
        if key in kept:
            document[key] = kept[key]
    return document


def _workload(request: JobRequest, kept: Any) -> dict[str, Any] | None:
    """spec.workload as kept, its kind and backend target the request's (they may have
    come from elsewhere, e.g. an API message)."""
    if not isinstance(kept, dict) and request.workload is None:
        return None
    workload = dict(kept) if isinstance(kept, dict) else {}
    if request.workload is not None:
        workload["kind"] = request.workload.value
    if workload.get("backend_target"):
        workload["backend_target"] = request.target
    return workload if "kind" in workload else None
