"""eigen.kernel"""
