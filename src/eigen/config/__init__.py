"""Settings, loaded only by entry points."""

from eigen.config.settings import ROLES, Role, Settings

__all__ = ["ROLES", "Role", "Settings"]
