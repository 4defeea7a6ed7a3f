"""eigen.client"""
