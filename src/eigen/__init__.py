"""Eigen: a quantum job orchestration platform."""

__version__ = "0.1.0"
