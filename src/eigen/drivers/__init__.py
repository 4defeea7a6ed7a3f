"""eigen.drivers"""
