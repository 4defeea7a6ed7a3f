"""Settings, loaded only by entry points."""

from eigen.config.loader import load_settings
from eigen.config.settings import ROLES, Role, Settings

__all__ = ["ROLES", "Role", "Settings", "load_settings"]
