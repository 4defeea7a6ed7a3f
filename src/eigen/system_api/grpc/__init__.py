"""eigen.system_api.grpc"""
