"""eigen.compiler"""
