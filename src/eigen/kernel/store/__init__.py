"""eigen.kernel.store"""
