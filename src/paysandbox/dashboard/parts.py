"""What a provider contributes to the dashboard (``Mounted.dashboard``): its object kinds, each
with a listing, per-state counts, a detail view and the simulate actions valid in the current
state, and its accounts. The dashboard core renders these; it never names a provider and never
changes state itself — every action is a call into the provider's own service, the same one its
control API uses.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ListQuery:
    """Filters of an object listing (all optional) and the page wanted."""

    account: str | None = None
    state: str | None = None
    #: part of the object's id (or its merchant reference)
    search: str | None = None
    since_us: int | None = None
    until_us: int | None = None
    offset: int = 0
    limit: int = 25


@dataclass(frozen=True)
class Summary:
    """One line of a listing."""

    id: str
    account: str
    state: str
    created_at_us: int
    amount: str = ""
    label: str = ""


@dataclass(frozen=True)
class Entry:
    """One line of an object's timeline."""

    at_us: int
    kind: str
    data: Mapping[str, Any]


@dataclass(frozen=True)
class Input:
    """A form field of an action (always optional text; the service validates it)."""

    name: str
    label: str
    placeholder: str = ""
    inputmode: str = "text"
    #: the input's ``type`` (``text``, ``password``, ``url``)
    kind: str = "text"


@dataclass(frozen=True)
class Action:
    """A button on the detail page; ``name`` is the last segment of its POST route."""

    name: str
    label: str
    inputs: tuple[Input, ...] = ()
    tone: str = "primary"  # primary | danger | plain
    hint: str = ""


@dataclass(frozen=True)
class Table:
    """A small related table on the detail page (refunds, cancels, …)."""

    title: str
    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]


@dataclass(frozen=True)
class Detail:
    id: str
    title: str
    state: str
    account: str
    #: every field, label → value (a dict or list is shown as JSON)
    fields: list[tuple[str, Any]]
    events: list[Entry]
    #: the actions valid in the current state, in display order
    actions: list[Action]
    #: (caption, data: URL) images, e.g. a payment slip
    images: list[tuple[str, str]] = field(default_factory=list)
    #: (label, same-origin URL) links, e.g. a customer page
    links: list[tuple[str, str]] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    #: the ``object_id`` its deliveries carry (None: it has none)
    delivery_object_id: str | None = None


class Refused(Exception):
    """An action the dashboard refuses before calling the service (e.g. an unreadable amount);
    its message is shown to the person."""


@dataclass(frozen=True)
class ObjectKind:
    """One kind of object of a provider (tokens, transactions, payments, …)."""

    #: the URL segment, e.g. ``tokens`` → ``/_sandbox/ui/<provider>/tokens``
    name: str
    title: str
    #: every state, in the order the overview shows them
    states: tuple[str, ...]
    list: Callable[[ListQuery], Awaitable[tuple[list[Summary], bool]]]
    counts: Callable[[], Awaitable[Mapping[str, int]]]
    #: None when there is no such object
    detail: Callable[[str], Awaitable[Detail | None]]
    #: run the action on the object with the form's fields; the notice to show
    act: Callable[[str, str, Mapping[str, str]], Awaitable[str]] = field(
        default=lambda object_id, action, form: _no_action(action)
    )
    #: every action name ``act`` knows (one POST route each)
    actions: tuple[str, ...] = ()
    #: what the listing calls the amount / label columns
    amount_title: str = "Amount"
    label_title: str = "Reference"
    #: the name of the id in its routes (``/_sandbox/ui/<provider>/<kind>/{<id_name>}``), as
    #: the provider's control routes name it
    id_name: str = "object_id"


async def _no_action(action: str) -> str:
    raise Refused(f"no action {action}")


@dataclass(frozen=True)
class Account:
    id: str
    kind: str
    fields: list[tuple[str, Any]]


@dataclass(frozen=True)
class DashboardPart:
    kinds: Sequence[ObjectKind]
    accounts: Callable[[], Awaitable[list[Account]]]
    #: creates a throwaway account from the form (``new_account`` fields); returns its id.
    #: None: accounts are not created from the dashboard.
    create_account: Callable[[Mapping[str, str]], Awaitable[str]] | None = None
    new_account: tuple[Input, ...] = ()
