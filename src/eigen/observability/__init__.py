"""eigen.observability"""
