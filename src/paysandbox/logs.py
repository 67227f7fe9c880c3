"""What may reach a log line.

Access-log lines (``--access-log``) carry the path without its query string: browser-facing
routes of some providers take card data in the query string, and
no query parameter of any provider is needed to read an access log. Bodies are never logged.
The HTTP client's own lines (``httpx``: ``HTTP Request: POST <url>``) have the user-info of
the URL masked.
"""

from __future__ import annotations

import logging
import re

ACCESS_LOGGER = "uvicorn.access"
#: The HTTP client's loggers: their lines carry callback URLs, which may hold ``user:password@``.
CLIENT_LOGGERS = ("httpx",)
_USERINFO = re.compile(r"(?<=://)[^/?#@\s]*@")


def mask_userinfo(text: str) -> str:
    """``http://user:password@host/`` → ``http://***@host/`` anywhere in ``text``."""
    return _USERINFO.sub("***@", text) if "@" in text else text


class HideUserInfo(logging.Filter):
    """Mask the user-info of every URL in a log record (its message and arguments)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = mask_userinfo(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(mask_userinfo(str(a)) if "@" in str(a) else a for a in record.args)
        return True


class HideQueryStrings(logging.Filter):
    """Rewrite uvicorn's access record ``(client, method, path?query, version, status)``."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            path, sep, _ = args[2].partition("?")
            if sep:
                record.args = (*args[:2], f"{path}?…", *args[3:])
        return True


def install() -> None:
    """Attach the filter once (idempotent; it survives uvicorn's logging set-up)."""
    logger = logging.getLogger(ACCESS_LOGGER)
    if not any(isinstance(f, HideQueryStrings) for f in logger.filters):
        logger.addFilter(HideQueryStrings())
    for name in CLIENT_LOGGERS:
        client = logging.getLogger(name)
        if not any(isinstance(f, HideUserInfo) for f in client.filters):
            client.addFilter(HideUserInfo())
