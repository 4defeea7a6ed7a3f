"""How work reaches the kernel's workers: the :class:`~eigen.kernel.dispatch.port.Dispatch`
port, in memory (one kernel per store) or on a PostgreSQL job queue (a cluster)."""
