"""eigen.cli"""
