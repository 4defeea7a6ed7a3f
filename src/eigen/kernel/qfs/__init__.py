"""eigen.kernel.qfs"""
