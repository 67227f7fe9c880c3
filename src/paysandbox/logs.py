"""What may reach a log line.

Access-log lines (``--access-log``) carry the path without its query string: browser-facing
routes of some providers take card data in the query string, and
no query parameter of any provider is needed to read an access log. Bodies are never logged.
"""

from __future__ import annotations

import logging

ACCESS_LOGGER = "uvicorn.access"


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
