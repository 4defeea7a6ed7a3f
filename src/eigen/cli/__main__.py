"""``python -m eigen.cli``: the same as ``eigen-cli``."""

from eigen.cli.main import run

if __name__ == "__main__":  # not when a spawned driver process imports this module
    run()
