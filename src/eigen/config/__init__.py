"""eigen.config"""
