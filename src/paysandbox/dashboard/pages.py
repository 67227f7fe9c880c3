"""The dashboard's pages and forms, each declared as an ``edge.Op`` under ``/_sandbox/``.

``GET /_sandbox/``                                   overview (live)
``GET /_sandbox/ui/<provider>/<kind>``               objects, with filters and paging
``GET /_sandbox/ui/<provider>/<kind>/{object_id}``    one object (live)
``POST …/{object_id}/<action>``                      a simulate action (the provider's service)
``GET /_sandbox/ui/deliveries[/{delivery_id}]``       deliveries; ``POST …/retry``
``GET /_sandbox/ui/accounts``                        accounts (and account clocks, when present)
``GET /_sandbox/ui/journal[/{exchange_id}]``          the request journal, when present
``GET|POST /_sandbox/ui/faults``, ``POST …/{id}/remove``  API faults, when present
``POST /_sandbox/ui/clock/advance``                  move the sandbox clock

Forms are plain POSTs answered with a 303 to the page (post/redirect/get); a refused action
shows the page again with the service's own message. Nothing here changes state except
through the services the control API uses.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response

from ..control.errors import to_control
from ..control.routes import clock_view, delivery_tx, delivery_view, retry_tx
from ..core.clock import US, from_datetime, sandbox_now_us
from ..core.errors import InvalidInput, SandboxError
from ..edge import Op, WireError
from ..store import clock as clock_rows
from ..store import outbox
from ..store.db import Database
from . import render
from .extras import Extras
from .parts import DashboardPart, Detail, ListQuery, ObjectKind, Refused

PAGE_SIZE = 25
#: the newest objects of each kind on the overview
LATEST = 3
DELIVERY_STATES = ("pending", "failed", "succeeded")


@dataclass(frozen=True)
class Section:
    """A provider as the dashboard sees it: its name (URL segment), title and part."""

    name: str
    title: str
    part: DashboardPart


def _page_number(params: Mapping[str, str]) -> int:
    try:
        return min(max(int(params.get("page", "1")), 1), 100_000)
    except ValueError:
        return 1


def _until(text: str | None) -> int | None:
    """The end of an "until" filter: a date alone means to the end of that day (from 28 Nov
    until 28 Nov showed nothing: until was that day's first moment)."""
    end = _instant(text)
    if end is not None and text is not None and len(text.strip()) == 10:
        end += 86_400 * 1_000_000
    return end


def _instant(text: str | None) -> int | None:
    """``YYYY-MM-DD`` or ``YYYY-MM-DDTHH:MM[:SS]`` (UTC) → µs; None when empty or unreadable."""
    if not text:
        return None
    try:
        return from_datetime(datetime.fromisoformat(text[:19]).replace(tzinfo=UTC))
    except ValueError:
        return None


def _message(exc: Exception) -> tuple[int, str]:
    """A refused action's status and the message the person sees."""
    if isinstance(exc, Refused):
        return 400, str(exc)
    wire = to_control(exc)
    if wire is not None:
        return wire.http_status, wire.wire_message
    if isinstance(exc, WireError):
        return exc.http_status, exc.wire_message
    return 500, "unexpected failure"


def ops(
    db: Database,
    sections: Sequence[Section],
    *,
    wake: Callable[[], None],
    extras: Extras | None = None,
) -> list[Op]:
    extras = extras or Extras()
    by_name = {s.name: s for s in sections}
    nav = [
        {
            "provider": s.name,
            "title": s.title,
            "kinds": [{"name": k.name, "title": k.title} for k in s.part.kinds],
        }
        for s in sections
    ]

    async def common() -> dict[str, Any]:
        offset = await db.read(clock_rows.offset_us)
        return {
            "nav": nav,
            "clock": clock_view(offset),
            "clock_now_us": sandbox_now_us(offset),
            "have": {
                "journal": extras.journal is not None,
                "faults": extras.faults is not None,
                "clocks": extras.clocks is not None,
            },
        }

    async def html(request: Request, template: str, status: int = 200, **values: Any) -> Response:
        return render.page(request, template, status, **(await common()), **values)

    async def refused(request: Request, exc: render.FormRefused) -> Response:
        return await html(request, "message.html", exc.http_status, message=exc.message)

    async def not_found(request: Request, what: str) -> Response:
        return await html(request, "message.html", 404, message=f"There is no {what}.")

    # ------------------------------------------------------------------ overview

    async def overview(request: Request) -> Response:
        providers = []
        for s in sections:
            kinds = []
            for k in s.part.kinds:
                counts = await k.counts()
                latest, _ = await k.list(ListQuery(limit=LATEST))
                kinds.append(
                    {
                        "name": k.name,
                        "title": k.title,
                        "total": sum(counts.values()),
                        "states": [(st, counts.get(st, 0)) for st in k.states],
                        "latest": latest,
                    }
                )
            providers.append({"name": s.name, "title": s.title, "kinds": kinds})
        delivery_counts: dict[str, dict[str, int]] = {}
        for r in await db.read(outbox.counts_by_provider_state):
            delivery_counts.setdefault(str(r["provider"]), {})[str(r["state"])] = int(r["n"])
        failed = await db.read(lambda c: outbox.list_deliveries(c, state="failed", limit=10))
        pending = await db.read(lambda c: outbox.list_deliveries(c, state="pending", limit=10))
        recent = (await extras.journal.recent({}, 0, 10))[0] if extras.journal is not None else None
        faults = await extras.faults.active() if extras.faults is not None else None
        clocks = await extras.clocks.differing() if extras.clocks is not None else None
        return await html(
            request,
            "overview.html",
            providers=providers,
            titles={s.name: s.title for s in sections},
            delivery_counts=delivery_counts,
            delivery_states=DELIVERY_STATES,
            attention=[delivery_view(r) for r in [*failed, *pending]],
            recent=recent,
            faults=faults,
            clocks=clocks,
        )

    async def advance_clock(request: Request) -> Response:
        try:
            form = await render.check_form(request)
        except render.FormRefused as exc:
            return await refused(request, exc)
        try:
            seconds = float(form.get("seconds", ""))
        except ValueError:
            seconds = -1
        if not 0 < seconds <= 10 * 365 * 86400:
            return await html(
                request, "message.html", 400, message="Seconds must be between 0 and 10 years."
            )
        try:
            await db.write(clock_rows.advance, int(seconds * US))
        except InvalidInput as exc:  # past the latest time a clock may show
            return await html(request, "message.html", 400, message=f"{exc}.")
        wake()
        back = form.get("back", "")
        return render.see_other(back if back.startswith("/_sandbox/") else "/_sandbox/")

    async def to_overview(request: Request) -> Response:
        return render.see_other("/_sandbox/")  # a typed "/_sandbox" got the API's JSON 404

    result: list[Op] = [
        Op("GET", "/_sandbox/", overview, "Dashboard: overview (HTML)"),
        Op("GET", "/_sandbox", to_overview, "Dashboard: to the overview (303 to /_sandbox/)"),
        Op(
            "POST",
            "/_sandbox/ui/clock/advance",
            advance_clock,
            "Dashboard: move the sandbox clock (form: seconds, csrf)",
            content_type="application/x-www-form-urlencoded",
        ),
    ]

    # ------------------------------------------------------------------ objects

    def object_ops(section: Section, kind: ObjectKind) -> list[Op]:
        base = f"/_sandbox/ui/{section.name}/{kind.name}"

        async def listing(request: Request) -> Response:
            p = request.query_params
            number = _page_number(p)
            filters = {k: p.get(k, "").strip() for k in ("account", "state", "q", "since", "until")}
            q = ListQuery(
                account=filters["account"] or None,
                state=filters["state"] or None,
                search=filters["q"][:100] or None,
                since_us=_instant(filters["since"]),
                until_us=_until(filters["until"]),
                offset=(number - 1) * PAGE_SIZE,
                limit=PAGE_SIZE,
            )
            found, more = await kind.list(q)
            accounts = [a.id for a in await section.part.accounts()]
            return await html(
                request,
                "list.html",
                section={"name": section.name, "title": section.title},
                kind=kind,
                base=base,
                rows=found,
                more=more,
                number=number,
                filters=filters,
                accounts=accounts,
            )

        async def show(request: Request, status: int = 200, error: str | None = None) -> Response:
            object_id = request.path_params[kind.id_name]
            detail = await kind.detail(object_id)
            if detail is None:
                return await not_found(request, f"{kind.title.lower()} {object_id}")
            done = request.query_params.get("done", "")
            return await html(
                request,
                "detail.html",
                status,
                section={"name": section.name, "title": section.title},
                kind=kind,
                base=base,
                d=detail,
                deliveries=await _deliveries_of(section.name, detail),
                touching=(
                    await extras.journal.touching(detail.id, 20)
                    if extras.journal is not None
                    else None
                ),
                done=done if done in kind.actions else "",
                error=error,
            )

        async def _deliveries_of(provider: str, detail: Detail) -> list[dict[str, Any]]:
            if detail.delivery_object_id is None:
                return []
            found = await db.read(
                lambda c: outbox.list_deliveries(
                    c, provider=provider, object_id=detail.delivery_object_id, limit=50
                )
            )
            return [delivery_view(r) for r in found]

        def action_op(action: str) -> Op:
            async def act(request: Request) -> Response:
                try:
                    form = await render.check_form(request)
                except render.FormRefused as exc:
                    return await refused(request, exc)
                object_id = request.path_params[kind.id_name]
                try:
                    await kind.act(object_id, action, form)
                except (Refused, WireError, SandboxError) as exc:
                    status, text = _message(exc)
                    if status == 404:
                        return await not_found(request, f"{kind.title.lower()} {object_id}")
                    return await show(request, status, text)
                wake()
                return render.see_other(f"{base}/{quote(object_id, safe='')}?done={action}")

            return Op(
                "POST",
                f"{base}/{{{kind.id_name}}}/{action}",
                act,
                f"Dashboard: {action} ({section.title}, form)",
                content_type="application/x-www-form-urlencoded",
            )

        async def detail_page(request: Request) -> Response:
            return await show(request)

        return [
            Op("GET", base, listing, f"Dashboard: {section.title} {kind.title.lower()} (HTML)"),
            Op(
                "GET",
                f"{base}/{{{kind.id_name}}}",
                detail_page,
                f"Dashboard: one of {base} (HTML)",
            ),
            *(action_op(a) for a in kind.actions),
        ]

    for s in sections:
        for k in s.part.kinds:
            result += object_ops(s, k)

    # ------------------------------------------------------------------ deliveries

    async def deliveries(request: Request) -> Response:
        p = request.query_params
        number = _page_number(p)
        provider = p.get("provider", "") if p.get("provider", "") in by_name else ""
        state = p.get("state", "") if p.get("state", "") in DELIVERY_STATES else ""
        object_id = p.get("object", "").strip()[:200]
        found = await db.read(
            lambda c: outbox.list_deliveries(
                c,
                provider=provider or None,
                object_id=object_id or None,
                state=state or None,
                limit=PAGE_SIZE + 1,
                offset=(number - 1) * PAGE_SIZE,
            )
        )
        return await html(
            request,
            "deliveries.html",
            rows=[delivery_view(r) for r in found[:PAGE_SIZE]],
            more=len(found) > PAGE_SIZE,
            number=number,
            filters={"provider": provider, "state": state, "object": object_id},
            providers=[(s.name, s.title) for s in sections],
            states=DELIVERY_STATES,
        )

    async def show_delivery(request: Request, status: int = 200, error: str = "") -> Response:
        delivery_id = request.path_params["delivery_id"]
        try:
            row, attempts = await db.read(delivery_tx, delivery_id)
        except WireError:
            return await not_found(request, f"delivery {delivery_id}")
        view = delivery_view(row, attempts)
        section = by_name.get(view["provider"])
        link = None
        if section is not None:
            for k in section.part.kinds:
                if await k.detail(view["objectId"]) is not None:
                    link = f"/_sandbox/ui/{section.name}/{k.name}/{quote(view['objectId'])}"
                    break
        return await html(
            request,
            "delivery.html",
            status,
            v=view,
            object_link=link,
            done=request.query_params.get("done") == "retry",
            error=error,
        )

    async def delivery_page(request: Request) -> Response:
        return await show_delivery(request)

    async def retry(request: Request) -> Response:
        try:
            await render.check_form(request)
        except render.FormRefused as exc:
            return await refused(request, exc)
        delivery_id = request.path_params["delivery_id"]
        try:
            await db.write(retry_tx, delivery_id)
        except WireError as exc:
            if exc.http_status == 404:
                return await not_found(request, f"delivery {delivery_id}")
            return await show_delivery(request, exc.http_status, exc.wire_message)
        wake()
        return render.see_other(f"/_sandbox/ui/deliveries/{quote(delivery_id)}?done=retry")

    # ------------------------------------------------------------------ accounts

    async def show_accounts(request: Request, status: int = 200, error: str = "") -> Response:
        groups = [
            {
                "name": s.name,
                "title": s.title,
                "accounts": await s.part.accounts(),
                "new": s.part.new_account if s.part.create_account is not None else None,
            }
            for s in sections
        ]
        clocks = await extras.clocks.differing() if extras.clocks is not None else None
        created = request.query_params.get("created", "")
        return await html(
            request,
            "accounts.html",
            status,
            groups=groups,
            clocks=clocks,
            created=created if created.isascii() and len(created) <= 64 else "",
            error=error,
        )

    async def accounts(request: Request) -> Response:
        return await show_accounts(request)

    async def account_clock(request: Request) -> Response:
        """An account's own clock (``advance``) or reset, through the control API's transactions."""
        if extras.clocks is None:
            return await html(request, "unavailable.html", 404, what="per-account clocks")
        try:
            form = await render.check_form(request)
        except render.FormRefused as exc:
            return await refused(request, exc)
        provider = request.path_params["provider"]
        account = request.path_params["account_id"]
        try:
            if request.url.path.endswith("/reset"):
                await extras.clocks.reset(provider, account)
            else:
                try:
                    seconds = float(form.get("seconds", ""))
                except ValueError:
                    raise Refused("seconds must be a number") from None
                await extras.clocks.advance(provider, account, seconds)
        except (Refused, WireError, SandboxError) as exc:
            status, text = _message(exc)
            return await show_accounts(request, status, text)
        wake()
        return render.see_other("/_sandbox/ui/accounts")

    def new_account_op(section: Section) -> Op:
        create = section.part.create_account
        assert create is not None

        async def new_account(request: Request) -> Response:
            try:
                form = await render.check_form(request)
            except render.FormRefused as exc:
                return await refused(request, exc)
            try:
                account_id = await create(form)
            except (Refused, WireError, SandboxError) as exc:
                status, text = _message(exc)
                return await show_accounts(request, status, text)
            return render.see_other(f"/_sandbox/ui/accounts?created={quote(account_id)}")

        return Op(
            "POST",
            f"/_sandbox/ui/accounts/{section.name}/new",
            new_account,
            f"Dashboard: create a throwaway {section.title} account (form)",
            content_type="application/x-www-form-urlencoded",
        )

    # ------------------------------------------------------------------ journal / faults

    async def journal(request: Request) -> Response:
        if extras.journal is None:
            return await html(request, "unavailable.html", what="The request journal")
        p = request.query_params
        number = _page_number(p)
        filters = {k: p.get(k, "").strip()[:200] for k in ("owner", "method", "status", "path")}
        found, more = await extras.journal.recent(
            {k: v for k, v in filters.items() if v}, (number - 1) * PAGE_SIZE, PAGE_SIZE
        )
        return await html(
            request, "journal.html", rows=found, more=more, number=number, filters=filters
        )

    async def exchange(request: Request) -> Response:
        if extras.journal is None:
            return await html(request, "unavailable.html", what="The request journal")
        found = await extras.journal.get(request.path_params["exchange_id"])
        if found is None:
            return await not_found(request, "such request in the journal")
        return await html(request, "exchange.html", x=found)

    async def faults(request: Request, status: int = 200, error: str = "") -> Response:
        if extras.faults is None:
            return await html(request, "unavailable.html", what="API fault injection")
        return await html(
            request,
            "faults.html",
            status,
            kinds=extras.faults.kinds,
            rows=await extras.faults.active(),
            error=error,
        )

    async def faults_page(request: Request) -> Response:
        return await faults(request)

    async def add_fault(request: Request) -> Response:
        if extras.faults is None:
            return await html(request, "unavailable.html", 404, what="API fault injection")
        try:
            form = await render.check_form(request)
        except render.FormRefused as exc:
            return await refused(request, exc)
        try:
            await extras.faults.add(form.pop("kind", ""), form)
        except (Refused, WireError, SandboxError) as exc:
            status, text = _message(exc)
            return await faults(request, status, text)
        return render.see_other("/_sandbox/ui/faults")

    async def remove_fault(request: Request) -> Response:
        if extras.faults is None:
            return await html(request, "unavailable.html", 404, what="API fault injection")
        try:
            await render.check_form(request)
        except render.FormRefused as exc:
            return await refused(request, exc)
        try:
            await extras.faults.remove(request.path_params["fault_id"])
        except (Refused, WireError, SandboxError) as exc:
            status, text = _message(exc)
            return await faults(request, status, text)
        return render.see_other("/_sandbox/ui/faults")

    form = "application/x-www-form-urlencoded"
    where = "/_sandbox/ui/accounts/{provider}/{account_id}"
    result += [
        Op(
            "POST",
            f"{where}/clock/advance",
            account_clock,
            "Dashboard: move one account's clock (form)",
            content_type=form,
        ),
        Op(
            "POST",
            f"{where}/reset",
            account_clock,
            "Dashboard: reset one account (form)",
            content_type=form,
        ),
        Op("GET", "/_sandbox/ui/deliveries", deliveries, "Dashboard: deliveries (HTML)"),
        Op(
            "GET",
            "/_sandbox/ui/deliveries/{delivery_id}",
            delivery_page,
            "Dashboard: one delivery with every attempt (HTML)",
        ),
        Op(
            "POST",
            "/_sandbox/ui/deliveries/{delivery_id}/retry",
            retry,
            "Dashboard: retry a delivery now (form)",
            content_type=form,
        ),
        Op("GET", "/_sandbox/ui/accounts", accounts, "Dashboard: accounts (HTML)"),
        *(new_account_op(s) for s in sections if s.part.create_account is not None),
        Op("GET", "/_sandbox/ui/journal", journal, "Dashboard: the request journal (HTML)"),
        Op(
            "GET",
            "/_sandbox/ui/journal/{exchange_id}",
            exchange,
            "Dashboard: one request and its answer (HTML)",
        ),
        Op("GET", "/_sandbox/ui/faults", faults_page, "Dashboard: API faults (HTML)"),
        Op(
            "POST",
            "/_sandbox/ui/faults",
            add_fault,
            "Dashboard: add an API fault (form)",
            content_type=form,
        ),
        Op(
            "POST",
            "/_sandbox/ui/faults/{fault_id}/remove",
            remove_fault,
            "Dashboard: remove an API fault (form)",
            content_type=form,
        ),
    ]
    return result
