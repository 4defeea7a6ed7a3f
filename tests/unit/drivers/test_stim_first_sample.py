"""The stabilizer driver's module makes stim's first samples safe to take from many threads
at once (without its warm-up, four threads sampling first together hang the process)."""

from __future__ import annotations

import subprocess
import sys

RACE = """
import sys, threading
import eigen.drivers.stabilizer  # noqa: F401  (the warm-up under test)
import stim
circuit = stim.Circuit("H 0\\nCNOT 0 1\\nM 0 1")
samplers = [circuit.compile_sampler(seed=i) for i in range(4)]
barrier = threading.Barrier(4)
def sample(i):
    barrier.wait()
    samplers[i].sample(10, bit_packed=True) if i % 2 else samplers[i].sample(10)
threads = [threading.Thread(target=sample, args=(i,), daemon=True) for i in range(4)]
for t in threads: t.start()
for t in threads: t.join(20)
print(sum(t.is_alive() for t in threads))
sys.stdout.flush()
"""


def test_threads_taking_the_first_samples_together_all_finish() -> None:
    for _ in range(3):  # the hang it guards against struck 4 runs in 5
        done = subprocess.run([sys.executable, "-c", RACE], capture_output=True, text=True, timeout=60)
        assert done.stdout.strip() == "0", done.stdout + done.stderr
