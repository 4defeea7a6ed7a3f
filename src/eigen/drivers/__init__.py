"""eigen.drivers: the driver-manager's devices.

:class:`Driver` is the contract of a device; :class:`DriverRegistry` finds drivers through
the entry-point group ``eigen.drivers`` and implements the kernel's ``DriverPort``.
Built-ins: ``sim:statevector`` (alias ``sim:local``, qiskit-aer), ``sim:stabilizer``
(stim) and ``emu:manila`` (noisy emulator of IBM Manila).

Importing this package does not import qiskit, aer, stim or qiskit-ibm-runtime; each
driver module does, when its driver is first looked up.
"""

from eigen.drivers.base import Driver, Observable
from eigen.drivers.registry import GROUP, DriverRegistry

__all__ = ["GROUP", "Driver", "DriverRegistry", "Observable"]
