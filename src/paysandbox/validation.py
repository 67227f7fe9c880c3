"""Turn msgspec's validation messages into (kind, field, message) for provider error formats.

msgspec reports one problem per decode, e.g. ``Object missing required field `x` - at `$.a```
or ``Expected `str` of length <= 64 - at `$.partnerTxnUid```. Providers map ``kind``
(``missing`` / ``invalid`` / ``not_object``) and the dotted ``field`` to their own codes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_MISSING = re.compile(r"^Object missing required field `([^`]+)`(?: - at `\$(.*)`)?$")
_AT = re.compile(r"^(.*) - at `\$(.*)`$")


@dataclass(frozen=True)
class Problem:
    kind: str  # missing | invalid | not_object
    field: str
    message: str


def _join(path: str, name: str) -> str:
    path = path.lstrip(".")
    return f"{path}.{name}" if path else name


def explain(message: str) -> Problem:
    m = _MISSING.match(message)
    if m:
        field = _join(m.group(2) or "", m.group(1))
        return Problem("missing", field, f"{field} is mandatory")
    m = _AT.match(message)
    if m:
        what, field = m.group(1), m.group(2).lstrip(".")
        if "got `null`" in what:
            return Problem("missing", field, f"{field} is mandatory and must not be null")
        return Problem("invalid", field, f"{field}: {what}")
    return Problem("not_object", "", "request body must be a JSON object")
