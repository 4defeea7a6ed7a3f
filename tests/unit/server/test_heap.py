"""The serving process's garbage collector set-up (``eigen.server.heap``). Each case runs in
a fresh interpreter: freezing the test process's own heap would outlive the test."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from eigen.server import heap


def run_python(code: str) -> dict[str, object]:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout)
    return result


def test_settle_freezes_what_survives_and_raises_the_young_threshold() -> None:
    seen = run_python(
        "import gc, json\n"
        "from eigen.server import heap\n"
        "kept = [{'n': i} for i in range(1000)]\n"
        "cycle = []; cycle.append(cycle); del cycle\n"  # garbage only the collector frees
        "before = gc.get_freeze_count()\n"
        "settled = heap.settle()\n"
        "print(json.dumps({'before': before, 'frozen': settled.frozen,\n"
        "    'collected': settled.collected, 'count': gc.get_freeze_count(),\n"
        "    'threshold': gc.get_threshold(), 'young': gc.get_count()[0]}))\n"
    )
    assert seen["before"] == 0
    assert seen["frozen"] == seen["count"]
    assert isinstance(seen["frozen"], int) and seen["frozen"] > 1000  # the kept dicts and the modules
    assert isinstance(seen["collected"], int) and seen["collected"] >= 1  # the cycle
    assert seen["threshold"] == [heap.YOUNG_THRESHOLD, *heap.OLDER_THRESHOLDS]
    assert seen["young"] < 100  # the generations start empty


def test_a_settled_process_still_collects_new_cycles() -> None:
    seen = run_python(
        "import gc, json, weakref\n"
        "from eigen.server import heap\n"
        "heap.settle(young_threshold=50)\n"
        "class Node: pass\n"
        "node = Node(); node.me = node; alive = weakref.ref(node); del node\n"
        "for _ in range(200): [[] for _ in range(10)]\n"  # allocations that trigger a young collection
        "filler = [[] for _ in range(100)]\n"
        "print(json.dumps({'freed': alive() is None}))\n"
    )
    assert seen["freed"] is True


def test_settle_rejects_a_threshold_below_one() -> None:
    with pytest.raises(ValueError, match="young_threshold must be at least 1"):
        heap.settle(young_threshold=0)
