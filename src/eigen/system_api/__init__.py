"""eigen.system_api"""
