"""Callback / notification URLs: one check for every place a URL comes in, one redaction for
every place a URL is shown.

The check parses with httpx, the sender's own client, so a URL accepted here is one the sender
can at least try (``http://[::1`` is refused here rather than wedging a delivery later).
"""

from __future__ import annotations

import httpx


class BadUrl(ValueError):
    """The URL cannot be used for a callback; the message says why (never echoing it)."""


def check_callback_url(value: str, *, field: str = "url", max_length: int = 2048) -> str:
    """``value`` if it is an absolute http(s) URL with a host that httpx can send to."""
    if len(value) > max_length:
        raise BadUrl(f"{field} is longer than {max_length} characters")
    if any(ch.isspace() for ch in value):
        raise BadUrl(f"{field} must not contain white space")
    try:
        url = httpx.URL(value)
        port = url.port
    except (httpx.InvalidURL, ValueError, TypeError):
        raise BadUrl(f"{field} is not a valid URL") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise BadUrl(f"{field} must be an absolute http(s) URL")
    if port is not None and not 0 < port < 65536:
        raise BadUrl(f"{field} has an invalid port")
    return value


def redact_url(value: str | None) -> str | None:
    """The URL with any ``user:password@`` part shown as ``***@``."""
    if not value or "@" not in value:
        return value
    try:
        url = httpx.URL(value)
    except (httpx.InvalidURL, ValueError, TypeError):
        return value
    if not url.userinfo:
        return value
    return str(url.copy_with(username="***", password=None))
