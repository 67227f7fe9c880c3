"""The control CLI: ``paysandbox pay|decline|expire|show|list|clock|advance|deliveries|delivery|
retry|reset`` talking to a running server's ``/_sandbox/`` API.

Every command takes ``--url`` (default ``http://127.0.0.1:8080``, or ``$PAYSANDBOX_URL``) and
``--token`` (default ``$PAYSANDBOX_CONTROL_TOKEN``; sent as ``Authorization: Bearer …`` when
set). The answer is printed as JSON on stdout; a control-API error is one line on stderr,
``paysandbox: <HTTP status> <error>: <message>``, and exit status 1 (2 for a usage mistake).
Output whose reader went away (``| head -1``) ends the command quietly with status 141
(``cli.main``).

Per provider (``kplus`` tokens, ``nicepay`` transactions, ``smart2pay`` payments):

    paysandbox pay kplus TOKEN [--account 0123456789]
    paysandbox pay nicepay TXID [--amount N]
    paysandbox decline kplus TOKEN
    paysandbox expire kplus|nicepay ID
    paysandbox show kplus|nicepay|smart2pay ID
    paysandbox list kplus|nicepay|smart2pay [--account ID] [--state S] [--limit N]
    paysandbox clock | advance 90m | reset
    paysandbox deliveries [--provider P] [--state S] | delivery ID | retry ID

Smart2Pay payments have no pay/decline/expire: their outcome follows the amount, and queued
states move on with the clock (``advance``).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

DEFAULT_URL = "http://127.0.0.1:8080"
PROVIDERS = ("kplus", "nicepay", "smart2pay")
#: provider → (objects path, account-filter query name, accounts path)
OBJECTS = {
    "kplus": ("/_sandbox/kplus/tokens", "partnerId", "kplus/partners"),
    "nicepay": ("/_sandbox/nicepay/transactions", "iMid", "nicepay/merchants"),
    "smart2pay": ("/_sandbox/smart2pay/payments", "siteId", "smart2pay/sites"),
}
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class CtlError(Exception):
    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def seconds(text: str) -> float:
    """``90``, ``90s``, ``30m``, ``2h``, ``1d``, ``1.5h`` → seconds."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", text)
    if not m:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration like 90, 30m, 2h or 1d")
    return float(m.group(1)) * _UNITS[m.group(2) or "s"]


Call = tuple[str, str, dict[str, Any] | None, dict[str, Any] | None]


def _seg(value: str) -> str:
    """An id as one path segment: percent-encoded, so ``/``, ``?``, ``#`` or ``..`` in it can
    never reach another route (``--account ../..`` became a global reset)."""
    if value in ("", ".", ".."):
        raise CtlError(f"{value!r} is not an id", 2)
    return quote(value, safe="")


def _pay(a: argparse.Namespace) -> Call:
    body: dict[str, Any] = {}
    if a.provider == "kplus" and a.account:
        body["paymentAccount"] = a.account
    if a.provider == "nicepay" and a.amount is not None:
        body["amount"] = a.amount
    return "POST", f"{OBJECTS[a.provider][0]}/{_seg(a.id)}/pay", None, body


def _action(verb: str) -> Callable[[argparse.Namespace], Call]:
    def call(a: argparse.Namespace) -> Call:
        return "POST", f"{OBJECTS[a.provider][0]}/{_seg(a.id)}/{verb}", None, None

    return call


def _show(a: argparse.Namespace) -> Call:
    return "GET", f"{OBJECTS[a.provider][0]}/{_seg(a.id)}", None, None


def _list(a: argparse.Namespace) -> Call:
    path, account_key, _ = OBJECTS[a.provider]
    query = {account_key: a.account, "state": a.state, "limit": a.limit}
    return "GET", path, {k: v for k, v in query.items() if v is not None}, None


def _account_prefix(a: argparse.Namespace) -> str:
    """The whole sandbox's control prefix, or with ``--provider`` and ``--account`` one
    account's. One of the two alone is refused: ``reset --provider kplus`` reset everything."""
    if a.account is None and a.provider is None:
        return "/_sandbox"
    if a.provider is None:
        raise CtlError("--account needs --provider", 2)
    if a.account is None:
        raise CtlError("--provider needs --account (without both, the whole sandbox)", 2)
    return f"/_sandbox/{OBJECTS[a.provider][2]}/{_seg(a.account)}"


def _clock(a: argparse.Namespace) -> Call:
    return "GET", f"{_account_prefix(a)}/clock", None, None


def _advance(a: argparse.Namespace) -> Call:
    return "POST", f"{_account_prefix(a)}/clock/advance", None, {"seconds": a.duration}


def _reset(a: argparse.Namespace) -> Call:
    return "POST", f"{_account_prefix(a)}/reset", None, None


def _deliveries(a: argparse.Namespace) -> Call:
    query = {
        "provider": a.provider,
        "objectId": a.object,
        "accountId": a.account,
        "state": a.state,
        "limit": a.limit,
    }
    return "GET", "/_sandbox/deliveries", {k: v for k, v in query.items() if v is not None}, None


def _delivery(a: argparse.Namespace) -> Call:
    return "GET", f"/_sandbox/deliveries/{_seg(a.id)}", None, None


def _retry(a: argparse.Namespace) -> Call:
    return "POST", f"/_sandbox/deliveries/{_seg(a.id)}/retry", None, None


def add_commands(sub: Any) -> None:
    """Register the control commands on ``paysandbox``'s sub-parsers."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--url",
        default=os.environ.get("PAYSANDBOX_URL", DEFAULT_URL),
        help=f"the running sandbox (default $PAYSANDBOX_URL or {DEFAULT_URL})",
    )
    common.add_argument(
        "--token",
        default=os.environ.get("PAYSANDBOX_CONTROL_TOKEN"),
        help="control token (default $PAYSANDBOX_CONTROL_TOKEN)",
    )

    def command(name: str, call: Callable[[argparse.Namespace], Call], text: str) -> Any:
        p = sub.add_parser(name, parents=[common], help=text, description=text)
        p.set_defaults(ctl=call)
        return p

    p = command("pay", _pay, "simulate the customer paying a K PLUS token or NICEPay transaction")
    p.add_argument("provider", choices=("kplus", "nicepay"))
    p.add_argument("id", help="K PLUS tokenId or NICEPay tXid")
    p.add_argument("--account", help="K PLUS: the payer's account number (masked on the slip)")
    p.add_argument("--amount", type=int, help="NICEPay VA: the amount transferred")
    p = command("decline", _action("decline"), "simulate the customer declining a K PLUS token")
    p.add_argument("provider", choices=("kplus",))
    p.add_argument("id")
    p = command("expire", _action("expire"), "expire an unpaid K PLUS token / NICEPay transaction")
    p.add_argument("provider", choices=("kplus", "nicepay"))
    p.add_argument("id")
    p = command("show", _show, "one object with its event history")
    p.add_argument("provider", choices=PROVIDERS)
    p.add_argument("id")
    p = command("list", _list, "a provider's objects, newest first")
    p.add_argument("provider", choices=PROVIDERS)
    p.add_argument("--account", help="partnerId / iMid / siteId")
    p.add_argument("--state", help="only objects in this state")
    p.add_argument("--limit", type=int)
    for name, call, text in (
        ("clock", _clock, "the sandbox clock (or an account's, with --provider/--account)"),
        ("advance", _advance, "move the sandbox clock forward (90, 30m, 2h, 1d)"),
        ("reset", _reset, "forget every object (or one account's, with --provider/--account)"),
    ):
        p = command(name, call, text)
        if name == "advance":
            p.add_argument("duration", type=seconds)
        p.add_argument("--provider", choices=PROVIDERS)
        p.add_argument("--account")
    p = command("deliveries", _deliveries, "callbacks and notifications, newest first")
    p.add_argument("--provider", choices=PROVIDERS)
    p.add_argument("--object", help="only the deliveries of this object id")
    p.add_argument("--account", help="only the deliveries of this account")
    p.add_argument("--state", help="pending, succeeded or failed")
    p.add_argument("--limit", type=int)
    p = command("delivery", _delivery, "one delivery with every attempt")
    p.add_argument("id")
    p = command("retry", _retry, "make a delivery due now")
    p.add_argument("id")


def _token(token: str) -> str:
    """The control token as sent: surrounding white space (a token file's line end) dropped;
    anything else not printable ASCII is refused without showing it (it is a secret)."""
    token = token.strip()
    if not token or not token.isascii() or not token.isprintable():
        raise CtlError("the control token must be printable ASCII (not shown)", 2)
    return token


def run(args: argparse.Namespace) -> int:
    """Run one control command; the exit status."""
    import httpx

    try:
        method, path, query, body = args.ctl(args)
        headers = {"Authorization": f"Bearer {_token(args.token)}"} if args.token else {}
        try:
            base = httpx.URL(args.url.rstrip("/"))
        except (httpx.InvalidURL, ValueError, TypeError):
            raise CtlError(f"--url {args.url!r} is not a URL", 2) from None
        if base.scheme not in ("http", "https") or not base.host:
            raise CtlError(f"--url {args.url!r} is not an http(s) URL", 2)
        with httpx.Client(base_url=base, headers=headers, timeout=30) as c:
            r = c.request(method, path, params=query, json=body)
    except CtlError as exc:
        print(f"paysandbox: {exc}", file=sys.stderr)
        return exc.code
    except httpx.HTTPError as exc:
        print(f"paysandbox: cannot reach {args.url}: {exc}", file=sys.stderr)
        return 1
    try:
        answer = r.json()
    except ValueError:
        answer = None
    if r.is_success and answer is not None:
        print(json.dumps(answer, indent=2, ensure_ascii=False))
        return 0
    if isinstance(answer, dict) and "error" in answer:
        detail = f" ({answer['detail']})" if answer.get("detail") else ""
        message = f"{r.status_code} {answer['error']}: {answer.get('message', '')}{detail}"
    else:
        message = f"{r.status_code} {r.reason_phrase} from {method} {path}"
    print(f"paysandbox: {message}", file=sys.stderr)
    return 1
