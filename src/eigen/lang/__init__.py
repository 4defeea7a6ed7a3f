"""eigen.lang"""
