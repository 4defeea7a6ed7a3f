"""Job events to every node: the :class:`~eigen.kernel.fanout.port.Fanout` port, with
Redis pub/sub and PostgreSQL LISTEN/NOTIFY implementations."""
