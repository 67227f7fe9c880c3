"""``RequestId`` idempotency: a POST resent with the same ``RequestId`` and the same request
gets the answer stored the first time, without doing anything again; the same ``RequestId``
with a different request is refused (code 20, "Key is duplicated").

The claim, the verb and the stored answer are one transaction: a verb that fails with an error
answer leaves no claim behind (it changed nothing, so a retry simply runs again), and of two
racing requests with one ``RequestId`` the second waits for the first (PostgreSQL's unique-key
wait, SQLite's single writer) and then answers its stored answer.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from ....store.db import Conn
from .. import store as rows
from ..errors import Smart2PayError, reason
from ._common import Answer, Credentials, site_for, site_now


def once_tx(
    conn: Conn,
    creds: Credentials,
    render: Callable[[Any], Answer],
    tx: Callable[..., Any],
    *args: Any,
) -> Answer:
    key = creds.request
    if key is None:
        return render(tx(conn, *args))
    site = site_for(conn, creds)
    site_id, now = int(site["site_id"]), site_now(site)
    if not rows.claim_request(conn, site_id, key.request_id, key.fingerprint, now):
        stored = rows.get_request(conn, site_id, key.request_id)
        assert stored is not None
        if stored["fingerprint"] != key.fingerprint:
            raise Smart2PayError(
                [
                    reason(
                        "20",
                        "Key is duplicated - RequestId was already used for a different request",
                    )
                ],
                http_status=400,
            )
        return int(stored["http_status"]), json.loads(stored["answer"])
    status, body = render(tx(conn, *args))
    rows.store_answer(conn, site_id, key.request_id, status, json.dumps(body))
    return status, body
