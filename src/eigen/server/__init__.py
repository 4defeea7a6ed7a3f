"""eigen.server"""
