"""What the request guard (security/guard.py) adds per request, in process: a provider request
(Host check only) and a control request (Host check, id check, no token), each through the
guard around a do-nothing ASGI app, against the bare app. Prints microseconds per request."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from starlette.responses import Response

from paysandbox.security.guard import Guard
from paysandbox.security.hosts import HostCheck

N = 100_000


async def bare(scope: Any, receive: Any, send: Any) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": b"{}"})


async def noop_send(message: Any) -> None:
    pass


async def noop_receive() -> Any:
    return {"type": "http.request", "body": b"", "more_body": False}


def scope(path: str, method: str) -> dict[str, Any]:
    return {
        "type": "http",
        "method": method,
        "path": path,
        "server": ("127.0.0.1", 8080),
        "scheme": "http",
        "headers": [
            (b"host", b"127.0.0.1:8080"),
            (b"content-type", b"application/json"),
            (b"content-length", b"300"),
            (b"user-agent", b"merchant-sdk/1.0"),
            (b"accept", b"*/*"),
        ],
    }


async def per_request(app: Any, s: dict[str, Any]) -> float:
    started = time.perf_counter()
    for _ in range(N):
        await app(s, noop_receive, noop_send)
    return (time.perf_counter() - started) / N * 1e6


async def main() -> None:
    guard = Guard(
        bare,
        hosts=HostCheck("127.0.0.1", None, []),
        token=None,
        public_url=None,
        refuse_host=lambda path: Response(status_code=404),
    )
    cases = [
        (
            "provider POST /kplus/payment/inquire-token",
            scope("/kplus/payment/inquire-token", "POST"),
        ),
        (
            "control POST /_sandbox/kplus/tokens/{id}/pay",
            scope("/_sandbox/kplus/tokens/KMCMPT1234567890PMT/pay", "POST"),
        ),
    ]
    print("| request | bare app µs | through the guard µs | added µs |")
    print("|---|---:|---:|---:|")
    for name, s in cases:
        b = min([await per_request(bare, s) for _ in range(7)])
        g = min([await per_request(guard, s) for _ in range(7)])
        print(f"| {name} | {b:.2f} | {g:.2f} | {g - b:.2f} |")


if __name__ == "__main__":
    asyncio.run(main())
