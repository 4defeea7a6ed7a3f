"""Hybrid execution: estimation of Pauli observables, parameter sweeps and the variational loop."""
