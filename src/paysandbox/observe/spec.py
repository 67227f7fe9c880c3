"""What a provider tells the observation layer (journal, faults, metrics) about its requests.

The core names no provider: each provider folder has an ``observe.py`` that builds one
``ProviderObserve`` and hands it over through ``ProviderPlugin.observe``. The hooks are pure
functions over an ``Exchange`` (the request as received, parsed once) and are called off the
answer path by the journal writer, and on the answer path only when a fault could apply.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar
from urllib.parse import parse_qsl, urlencode

import msgspec
from starlette.responses import Response

from ..store.db import Conn

REDACTED = "***"
UNPARSEABLE = "*** (not stored: unparseable, and it may hold a secret field)"

_JSON = msgspec.json.Decoder()


RawHeaders = list[tuple[bytes, bytes]]
T = TypeVar("T")


class lazy(Generic[T]):
    """``functools.cached_property`` without its lock (3.11): computed once per object."""

    def __init__(self, fn: Callable[[Any], T]) -> None:
        self.fn = fn
        self.name = fn.__name__

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, obj: Any, owner: type | None = None) -> T:
        value = self.fn(obj)
        obj.__dict__[self.name] = value
        return value


def header_value(headers: RawHeaders, name: bytes) -> str | None:
    """The last value of header ``name`` (lower case, as ASGI gives names)."""
    found = None
    for k, v in headers:
        if k == name:
            found = v
    return None if found is None else found.decode("latin-1")


class Exchange:
    """One request as received (and, for the journal, the answer as sent).

    Everything derived (``headers``, ``doc``, ``answer``, ``location``) is computed on first
    use, so a hook pays only for what it reads.
    """

    def __init__(
        self,
        *,
        method: str,
        path: str,
        route: str | None,
        path_params: dict[str, str],
        query: str,
        raw_headers: RawHeaders,
        body: bytes,
        answer_headers: RawHeaders | None = None,
        answer_body: bytes = b"",
    ) -> None:
        self.method = method
        self.path = path
        self.route = route
        self.path_params = path_params
        self.query = query
        self.raw_headers = raw_headers
        self.body = body
        self.answer_headers = answer_headers or []
        self.answer_body = answer_body

    @lazy
    def headers(self) -> dict[str, str]:
        """Lower-case names; a repeated header keeps its last value."""
        return {k.decode("latin-1"): v.decode("latin-1") for k, v in self.raw_headers}

    @lazy
    def content_type(self) -> str:
        return header_value(self.raw_headers, b"content-type") or ""

    @lazy
    def doc(self) -> dict[str, Any]:
        """The body (JSON object, or a form) over the query parameters; {} when unreadable."""
        return parse_doc(self.body, self.content_type, self.query)

    @lazy
    def answer(self) -> dict[str, Any] | None:
        """The answer body when it is a JSON object (journal only)."""
        if self.answer_body[:1] != b"{":
            return None
        try:
            parsed = _JSON.decode(self.answer_body)
        except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
            return None
        return parsed if isinstance(parsed, dict) else None

    @lazy
    def location(self) -> str | None:
        """The answer's ``Location`` header (a redirect's target; journal only)."""
        return header_value(self.answer_headers, b"location")


def parse_doc(body: bytes, content_type: str, query: str) -> dict[str, Any]:
    """The request's fields: the query string's, overlaid by a JSON object or form body."""
    doc: dict[str, Any] = dict(parse_qsl(query, keep_blank_values=True)) if query else {}
    if body:
        ct = content_type.lower()
        if "json" in ct or (not ct and body[:1] == b"{"):
            try:
                parsed = _JSON.decode(body)
            except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
                parsed = None  # invalid UTF-8 inside a string raises UnicodeDecodeError
            if isinstance(parsed, dict):
                if not doc:
                    return parsed  # a new dict of the decoder's: no copy needed
                doc.update(parsed)
        elif "x-www-form-urlencoded" in ct or not ct or ct.startswith("text/plain"):
            doc.update(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    return doc


def lookup(doc: Mapping[str, Any], dotted: str) -> Any:
    """``a.b`` (or ``items.0.name``) in a nested document; keys matched exactly first, then
    without regard to case; a number picks a list item."""
    cur: Any = doc
    for part in dotted.split("."):
        if isinstance(cur, list) and part.isascii() and part.isdigit() and len(part) <= 18:
            cur = cur[int(part)] if int(part) < len(cur) else None
            continue
        if not isinstance(cur, Mapping):
            return None
        if part in cur:
            cur = cur[part]
            continue
        low = part.lower()
        cur = next((v for k, v in cur.items() if isinstance(k, str) and k.lower() == low), None)
    return cur


_LONG_DIGITS = re.compile(r"(?<!\d)\d{13,19}(?!\d)")


def luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def scrub_pans(text: str) -> str:
    """Every 13–19 digit run that passes the Luhn check, masked (the safety net for bodies
    whose fields cannot be told apart)."""
    return _LONG_DIGITS.sub(lambda m: mask_pan(m.group()) if luhn(m.group()) else m.group(), text)


def mask_pan(value: Any) -> str:
    """A card number shown as its last four digits only: ``************1111``."""
    digits = "".join(ch for ch in str(value) if ch.isdigit())
    return "*" * max(len(digits) - 4, 0) + digits[-4:] if len(digits) > 4 else REDACTED


#: Headers never stored, on every provider: credentials a client may send along (a control
#: token, cookies of a signed-in browser, proxy credentials).
ALWAYS_HIDDEN_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization"})


@dataclass
class Redaction:
    """Which fields a provider's requests carry that must never be stored.

    Names are matched without regard to case, at any depth of a JSON body, in a form body and
    in the query string. ``secrets`` become ``***``; ``pans`` keep their last four digits;
    ``cvv`` fields are removed, name and all; ``headers`` are replaced by ``***``. A text that
    mentions none of the names (and has no ``\\u`` or ``%`` escape that could spell one) is
    stored as it came, unparsed.
    """

    secrets: frozenset[str] = frozenset()
    pans: frozenset[str] = frozenset()
    cvv: frozenset[str] = frozenset()
    headers: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        names = sorted(self.secrets | self.pans)
        self.secrets = frozenset(s.lower() for s in self.secrets)
        self.pans = frozenset(s.lower() for s in self.pans)
        self.cvv = frozenset(s.lower() for s in self.cvv)
        self._cvv_names = tuple(sorted(self.cvv))
        # Credentials any client may send along, whatever the provider: always hidden.
        self.headers = frozenset(s.lower() for s in self.headers) | ALWAYS_HIDDEN_HEADERS
        self._header_bytes = frozenset(h.encode("latin-1") for h in self.headers)
        self._names = tuple(n.lower() for n in names)
        self._any_names = self._names + self._cvv_names  # what ``mentions`` looks for
        alternatives = "|".join(re.escape(n) for n in names)
        #: ``"name": "text"`` with no escape inside: the fast path of ``body``
        pair = rf'"({alternatives})"(\s*:\s*)"([^"\\]*)"'
        self._pair_exact = re.compile(pair)  # the usual spelling: cheaper to match
        self._pair = re.compile(pair, re.I)

    def _replace(self, m: re.Match[str]) -> str:
        name, colon, value = m.groups()
        hidden = REDACTED if name.lower() in self.secrets else (mask_pan(value) if value else value)
        return f'"{name}"{colon}"{hidden}"'

    def mentions(self, text: str) -> bool:
        """Could ``text`` carry a declared field? (false positives only cost time)"""
        return self._mentions(text, None)

    def _mentions(self, text: str, low: str | None) -> bool:
        """``mentions``; ``low``: ``text.lower()`` when the caller has it."""
        if not self._any_names:
            return False
        if "\\u" in text or "%" in text:
            return True
        if low is None:
            low = text.lower()
        for name in self._any_names:  # noqa: SIM110 - a loop: no generator to make
            if name in low:
                return True
        return False

    def value(self, key: str, value: Any) -> Any:
        low = key.lower()
        if low in self.secrets:
            return REDACTED
        if low in self.pans and value is not None and value != "":
            return mask_pan(value)
        if isinstance(value, dict):
            return self.document(value)
        if isinstance(value, list):
            return [self.value(key, v) for v in value]
        return value

    def document(self, doc: dict[str, Any]) -> dict[str, Any]:
        cvv = self.cvv
        return {k: self.value(k, v) for k, v in doc.items() if k.lower() not in cvv}

    def pairs(self, text: str) -> str:
        """A query string or form body with the declared fields redacted."""
        if not self.mentions(text):
            return text
        pairs = parse_qsl(text, keep_blank_values=True)
        hidden = self.secrets | self.pans | self.cvv
        if not any(k.lower() in hidden for k, _ in pairs):
            return text
        return urlencode(
            [(k, str(self.value(k, v))) for k, v in pairs if k.lower() not in self.cvv]
        )

    def header_block(self, headers: RawHeaders) -> str:
        """Headers as one ``name: value`` line each, declared ones as ``***``."""
        hidden = self._header_bytes  # never empty (ALWAYS_HIDDEN_HEADERS)
        if not hidden.isdisjoint(dict(headers)):  # (all in C: no loop in Python)
            headers = [(k, b"***" if k in hidden else v) for k, v in headers]
        return b"\n".join(map(b": ".join, headers)).decode("latin-1")

    def body(self, body: str, content_type: str) -> str:
        """A body as text with the declared fields redacted (JSON object, form, or as is).

        A JSON body that mentions a declared field but cannot be parsed is not stored (its
        text is replaced by a note): there is no safe way to cut the secret out of it."""
        low = body.lower() if self._any_names else body
        if not self._mentions(body, low):
            if self.pans and _LONG_DIGITS.search(body) and not _is_json(body):
                return scrub_pans(body)  # a card number sent in a body we cannot read
            return body
        ct = content_type.lower()
        if "json" in ct or body.lstrip().startswith(("{", "[")):
            cvv = self._cvv_names
            if "\\" not in body and not (cvv and any(n in low for n in cvv)):
                # Fast path: every mention of a declared name is a "name": "text" pair that
                # the pattern replaced; any other mention (a number value, a nested object,
                # the name inside another key or a value) takes the parse below.
                mentioned = 0
                for name in self._names:
                    mentioned += low.count(name)
                out, n = self._pair_exact.subn(self._replace, body)
                if n == mentioned:
                    return out
                out, n = self._pair.subn(self._replace, body)
                if n == mentioned:
                    return out
            try:
                parsed = _JSON.decode(body)
            except (msgspec.DecodeError, RecursionError):
                return UNPARSEABLE
            if isinstance(parsed, dict):
                return msgspec.json.encode(self.document(parsed)).decode()
            if isinstance(parsed, list):
                return msgspec.json.encode(self.value("", parsed)).decode()
            return body
        if "x-www-form-urlencoded" in ct or "=" in body:
            return self.pairs(body)
        return body


def _is_json(body: str) -> bool:
    try:
        _JSON.decode(body)
    except (msgspec.DecodeError, RecursionError):
        return False
    return True


@dataclass
class ProviderObserve:
    """A provider's part in the journal, fault injection and metrics."""

    redaction: Redaction
    #: The partner/merchant/site a request belongs to (None when it cannot be told).
    account: Callable[[Exchange], str | None]
    #: Ids of the objects an exchange touched (request fields, path parameters, the answer).
    object_ids: Callable[[Exchange], list[str]]
    #: Names accepted as a fault's ``error`` → the provider's own error answer for that code.
    error_codes: Collection[str]
    render_error: Callable[[str, Exchange], Response]
    default_error: str
    #: A route template → the key faults and filters compare (e.g. two path families of one API).
    route_key: Callable[[str], str] = field(default=lambda route: route)
    #: Objects by kind and state, counted at scrape time: [(kind, state, count)].
    count_objects: Callable[[Conn], list[tuple[str, str, int]]] | None = None


def first_text(*values: Any) -> str | None:
    for v in values:
        if type(v) is str:  # the usual case, first: str(v) is v
            if v:
                return v
        elif isinstance(v, (str, int)) and not isinstance(v, bool) and str(v) != "":
            return str(v)
    return None


def collect_ids(values: Iterable[Any]) -> list[str]:
    """Distinct, non-empty ids in order."""
    out: list[str] = []
    for v in values:
        if v is None:
            continue
        text = v if type(v) is str else first_text(v)  # (a str: its own text, when not "")
        if text and len(text) <= 128 and text not in out:
            out.append(text)
    return out
