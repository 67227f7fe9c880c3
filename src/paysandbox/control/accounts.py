"""Per-account isolation, for every provider alike: each account (a partner, a merchant, a
site) has its own clock on top of the sandbox clock and can be reset alone, and throwaway
accounts are one request away — so parallel tests and a team sharing one sandbox never step on
each other.

``POST /_sandbox/<provider>/<accounts>`` (optional JSON options) → 201 with the credentials,
``GET  /_sandbox/<provider>/<accounts>/{id}/clock``,
``POST /_sandbox/<provider>/<accounts>/{id}/clock/advance`` ``{"seconds": N}``,
``POST /_sandbox/<provider>/<accounts>/{id}/reset`` — forget the account's objects, their
events and deliveries, and its clock offset; keep the account.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from ..core.clock import US, iso, real_now_us
from ..dashboard.extras import AccountClock
from ..delivery.sender import Sender
from ..edge import Op
from ..plugin import AnyProvider
from ..store import admin
from ..store import clock as clock_rows
from ..store.db import Conn, Database
from ..web import decode_json, json_response, read_body, require_json
from .errors import ControlError, decode_optional, no_input
from .routes import Advance

#: Extra per-account forgetting registered by other core parts (e.g. the request journal).
AccountForgetter = Callable[[Conn, str, str], None]


def account_clock_view(sandbox_offset_us: int, own_offset_us: int) -> dict[str, Any]:
    now = real_now_us() + sandbox_offset_us + own_offset_us
    return {
        "now": iso(now),
        "nowUnixMs": now // 1000,
        "offsetSeconds": own_offset_us / US,
        "sandboxOffsetSeconds": sandbox_offset_us / US,
    }


_OPTIONS = msgspec.json.Decoder(dict[str, Any])


def ops(
    providers: Sequence[AnyProvider],
    db: Database,
    sender: Sender | None,
    *,
    max_body: int,
    forgetters: Sequence[AccountForgetter] = (),
    after_reset: Callable[[], Awaitable[None]] | None = None,
) -> list[Op]:
    out: list[Op] = []
    for p in providers:
        out += _provider_ops(
            p, db, sender, max_body=max_body, forgetters=forgetters, after_reset=after_reset
        )
    return out


def _known(conn: Conn, p: AnyProvider, account_id: str) -> None:
    if len(account_id) > 64 or not p.account_exists(conn, account_id):
        raise ControlError("not_found", f"no {p.title} account {account_id[:64]}")


def advance_tx(conn: Conn, p: AnyProvider, account_id: str, delta_us: int) -> dict[str, Any]:
    """Move one account's clock (the control API's and the dashboard's)."""
    _known(conn, p, account_id)
    own = clock_rows.advance_account(conn, p.name, account_id, delta_us)
    return account_clock_view(clock_rows.offset_us(conn), own)


def reset_tx(
    conn: Conn, p: AnyProvider, account_id: str, forgetters: Sequence[AccountForgetter]
) -> None:
    """Forget one account's objects, events, deliveries (and what ``forgetters`` keep of it,
    e.g. its journal entries and faults) and its clock offset; keep the account."""
    _known(conn, p, account_id)
    p.forget_account(conn, account_id)
    admin.forget_account_deliveries(conn, p.name, account_id)
    for forget in forgetters:
        forget(conn, p.name, account_id)
    clock_rows.reset_account(conn, p.name, account_id)


class ClockSource:
    """Account clocks for the dashboard, through the same transactions as the routes below."""

    def __init__(
        self,
        providers: Sequence[AnyProvider],
        db: Database,
        sender: Sender | None,
        forgetters: Sequence[AccountForgetter] = (),
        after_reset: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.providers = {p.name: p for p in providers}
        self.db, self.sender = db, sender
        self.forgetters, self.after_reset = forgetters, after_reset

    async def differing(self) -> list[AccountClock]:
        def tx(conn: Conn) -> list[AccountClock]:
            sandbox = clock_rows.offset_us(conn)
            out = []
            for name in self.providers:
                for account, own in sorted(clock_rows.own_offsets(conn, name).items()):
                    now = real_now_us() + sandbox + own
                    out.append(AccountClock(name, account, own / US, now))
            return out

        return await self.db.read(tx)

    def _provider(self, name: str) -> AnyProvider:
        if name not in self.providers:
            raise ControlError("not_found", f"no provider {name[:32]}")
        return self.providers[name]

    async def advance(self, provider: str, account: str, seconds: float) -> None:
        if not 0 <= seconds <= 10 * 365 * 86400:
            raise ControlError("bad_request", "seconds must be 0 to ten years")
        await self.db.write(advance_tx, self._provider(provider), account, int(seconds * US))
        if self.sender is not None:
            self.sender.wake()

    async def reset(self, provider: str, account: str) -> None:
        await self.db.write(reset_tx, self._provider(provider), account, self.forgetters)
        if self.after_reset is not None:
            await self.after_reset()


def _provider_ops(
    p: AnyProvider,
    db: Database,
    sender: Sender | None,
    *,
    max_body: int,
    forgetters: Sequence[AccountForgetter],
    after_reset: Callable[[], Awaitable[None]] | None,
) -> list[Op]:
    base = f"/_sandbox/{p.name}/{p.accounts}"

    def _clock(conn: Conn, account_id: str) -> dict[str, Any]:
        _known(conn, p, account_id)
        own = clock_rows.own_offset_us(conn, p.name, account_id)
        return account_clock_view(clock_rows.offset_us(conn), own)

    async def get_clock(request: Request) -> Response:
        return json_response(await db.read(_clock, request.path_params["account_id"]))

    def _advance(conn: Conn, account_id: str, delta_us: int) -> dict[str, Any]:
        return advance_tx(conn, p, account_id, delta_us)

    async def advance(request: Request) -> Response:
        body = await decode_optional(request, Advance, max_body)
        view = await db.write(_advance, request.path_params["account_id"], int(body.seconds * US))
        if sender is not None:
            sender.wake()
        return json_response(view)

    def _reset(conn: Conn, account_id: str) -> None:
        reset_tx(conn, p, account_id, forgetters)

    async def reset(request: Request) -> Response:
        account_id = request.path_params["account_id"]
        await no_input(request, max_body)
        await db.write(_reset, account_id)
        if after_reset is not None:
            await after_reset()
        return json_response({"reset": True, "provider": p.name, "account": account_id})

    async def create(request: Request) -> Response:
        raw = await read_body(request, max_body)
        options: dict[str, Any] = {}
        if raw.strip():
            require_json(request)
            try:
                options = decode_json(_OPTIONS, raw)
            except msgspec.ValidationError:
                raise ControlError("bad_request", "the body must be a JSON object") from None
        created = await db.write(p.new_account, options)
        return json_response(created, 201)

    where = f"/_sandbox/{p.name}/{p.accounts}/{{account_id}}"
    return [
        Op("POST", base, create, f"A throwaway {p.title} account: answers its credentials"),
        Op("GET", f"{where}/clock", get_clock, "The account's clock"),
        Op(
            "POST",
            f"{where}/clock/advance",
            advance,
            "Move only this account's clock forward",
            Advance,
        ),
        Op("POST", f"{where}/reset", reset, "Forget the account's objects, events, deliveries"),
    ]
