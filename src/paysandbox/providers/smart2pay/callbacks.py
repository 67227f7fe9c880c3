"""Smart2Pay notifications (GlobalPay → merchant), built for the outbox.

POST to the site's notification URL; body ``{"Payment": {…}}`` or ``{"Refund": {…}}`` — "the
same structure as the response of the initial request"; header ``Authorization: Basic
base64(SiteID:ApiKey)`` (the merchant checks it; redacted wherever paysandbox shows a
delivery). Smart2Pay asks for 204; any 2xx counts as delivered, anything else is retried.
"""

from __future__ import annotations

import base64
from typing import Any

from ...delivery.outbox import OutboundMessage
from ...store.db import Row
from ...web import JSON_ENCODER

PROVIDER = "smart2pay"


def basic_auth(site_id: int, api_key: str) -> str:
    return "Basic " + base64.b64encode(f"{site_id}:{api_key}".encode()).decode("ascii")


def notification(site: Row, payment_id: int, kind: str, body: dict[str, Any]) -> OutboundMessage:
    """``kind`` is ``payment`` or ``refund``; ``body`` the full ``{"Payment": …}`` document."""
    return OutboundMessage(
        provider=PROVIDER,
        account_id=str(site["site_id"]),
        object_id=str(payment_id),
        event=kind,
        url=str(site["notification_url"]),
        body=JSON_ENCODER.encode(body).decode(),
        content_type="application/json; charset=utf-8",
        headers={"Authorization": basic_auth(int(site["site_id"]), str(site["api_key"]))},
        secret_keys=("Authorization",),
        success_rule="http_2xx",
    )
