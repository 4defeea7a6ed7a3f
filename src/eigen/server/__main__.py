"""``python -m eigen.server``: the same as ``eigen-server``."""

from eigen.server.main import run

if __name__ == "__main__":  # not when a spawned driver process imports this module
    run()
