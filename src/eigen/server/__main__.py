"""``python -m eigen.server``: the same as ``eigen-server``."""

from eigen.server.main import run

run()
