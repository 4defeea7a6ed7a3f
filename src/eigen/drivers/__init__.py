"""eigen.drivers: the driver-manager's devices.

:class:`Driver` is the contract of a device; :class:`DriverRegistry` finds drivers through
the entry-point group ``eigen.drivers`` and implements the kernel's ``DriverPort``.
Built-ins: ``sim:statevector`` (alias ``sim:local``, qiskit-aer), ``sim:stabilizer``
(stim) and ``emu:manila`` (noisy emulator of IBM Manila).

Importing this package does not import qiskit, aer, stim or qiskit-ibm-runtime; each
driver module does, when its driver is first looked up.
"""

import os

# qiskit-aer's OpenMP threads spin after every run by default, burning a core that the
# server needs between small jobs; passive waiting costs nothing measurable on large
# circuits. It must be set before qiskit_aer is first imported (the drivers import it
# lazily, after this).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from eigen.drivers.base import Driver, Observable
from eigen.drivers.registry import GROUP, DriverRegistry

__all__ = ["GROUP", "Driver", "DriverRegistry", "Observable"]
