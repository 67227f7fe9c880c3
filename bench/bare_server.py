"""The floor under paysandbox's request path: uvicorn with paysandbox's own protocol (httptools,
uvloop, the connection limits and the end-of-turn send) around a bare ASGI app that answers
every request with K PLUS inquire-token's bytes. What uvicorn and the sockets cost a request,
with nothing of paysandbox's app.

    .venv/bin/python bench/bare_server.py --port 18001 &
    BENCH_OP=inquire-token BENCH_TOKEN=x wrk -t1 -c32 -d6s -s bench/wrk_kplus.lua \\
        http://127.0.0.1:18001
    # CPU per request: the server's /proc/<pid>/stat utime+stime over the row ÷ requests

``--protocol uvicorn`` serves with uvicorn's plain httptools protocol instead.
"""

from __future__ import annotations

import argparse
from typing import Any

import uvicorn

from paysandbox.security import limits
from paysandbox.settings import Settings

BODY = (
    b'{"partnerTxnUid":"u1","partnerId":"PTR1902369","statusCode":"00","errorCode":null,'
    b'"errorDesc":null,"tokenId":"KMCMPTxyn7jc2yxyuftn10wozex1wrrmu4nt8lljks565tPMT",'
    b'"paymentStatus":"REQUESTED","requestDt":"2019-07-04T18:00:42.411"}'
)
HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]


async def app(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            else:
                await send({"type": "lifespan.shutdown.complete"})
                return
    while (await receive()).get("more_body"):
        pass
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--port", type=int, default=18001)
    ap.add_argument("--protocol", choices=("paysandbox", "uvicorn"), default="paysandbox")
    args = ap.parse_args()
    options: dict[str, Any] = {
        "loop": "uvloop",
        "access_log": False,
        "log_level": "warning",
        "server_header": False,
        "date_header": False,
    }
    if args.protocol == "paysandbox":
        options.update(limits.uvicorn_options(Settings()))
    else:
        options["http"] = "httptools"
    uvicorn.run(app, host="127.0.0.1", port=args.port, **options)


if __name__ == "__main__":
    main()
