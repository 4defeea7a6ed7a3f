"""``python -m eigen.cli``: the same as ``eigen-cli``."""

from eigen.cli.main import run

run()
