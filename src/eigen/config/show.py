"""The effective settings as YAML, secrets masked (``eigen-server config show``)."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import yaml
from pydantic import SecretStr

from eigen.config.settings import Settings

MASK = "***"
_SECRET_PARAMS = frozenset({"password", "passwd", "sslpassword", "secret", "token", "api_key"})


def mask_url(url: str) -> str:
    """``url`` with the password of its user part and of secret query parameters masked
    (the rest verbatim: ``sqlite:////abs/path`` stays as written)."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return MASK
    shown = url
    if password is not None:
        user = parts.netloc.rpartition("@")[0].split(":", 1)[0]
        host = parts.netloc.rpartition("@")[2]
        shown = shown.replace(f"//{parts.netloc}", f"//{user}:{MASK}@{host}", 1)
    if parts.query:
        pairs = parse_qsl(parts.query, keep_blank_values=True)
        if any(key.lower() in _SECRET_PARAMS for key, _ in pairs):
            query = urlencode([(k, MASK if k.lower() in _SECRET_PARAMS else v) for k, v in pairs], safe="*")
            shown = shown.replace(f"?{parts.query}", f"?{query}", 1)
    return shown


def masked_settings(settings: Settings) -> dict[str, Any]:
    """Every setting by key, JSON-compatible, with secrets and URL passwords masked."""
    data = settings.model_dump(mode="json")
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if isinstance(value, SecretStr):
            data[name] = MASK
        elif name.endswith("_url") and isinstance(value, str) and value:
            data[name] = mask_url(value)
    return data


def render_settings(settings: Settings) -> str:
    """YAML that can serve as a settings file (apart from the masked secrets)."""
    data = masked_settings(settings)
    data.pop("config_file", None)
    source = f"# settings file: {settings.config_file}\n" if settings.config_file else ""
    return source + yaml.safe_dump(data, sort_keys=False, default_flow_style=False)
