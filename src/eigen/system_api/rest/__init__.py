"""The REST/JSON gateway: ``eigen.api.v1`` over HTTP, on the same service layer as gRPC."""

from eigen.system_api.rest.app import create_app

__all__ = ["create_app"]
