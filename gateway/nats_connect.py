"""Connecting to the engine's servers with the credentials as options, not in the URLs.

``ELDERCARE_ENGINE_URL`` may carry ``user:password@`` in each URL. nats-py sends the
credentials of the URL it connects to, and adds the servers a cluster announces
(their ``host:port`` only) to its pool as servers of their own: after a node
dies, a reconnect to one of those was refused (``Authorization Violation``) and
took a retry more. So the credentials are taken out of the URLs and given as the
connection's ``user`` and ``password``, which nats-py sends to every server.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit


def connect_options(urls: list[str]) -> dict[str, Any]:
    """``servers`` without credentials, and ``user``/``password`` (of the first URL
    that has them) for ``nats.connect``."""
    servers: list[str] = []
    user: str | None = None
    password: str | None = None
    for url in urls:
        parts = urlsplit(url)
        if parts.username is not None and user is None:
            user = unquote(parts.username)
            password = unquote(parts.password or "")
        host = parts.hostname or ""
        netloc = f"[{host}]" if ":" in host else host
        if parts.port is not None:
            netloc += f":{parts.port}"
        servers.append(urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment)))
    options: dict[str, Any] = {"servers": servers}
    if user is not None:
        options["user"] = user
        options["password"] = password
    return options
