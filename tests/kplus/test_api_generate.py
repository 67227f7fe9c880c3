"""generate-token over HTTP: both path families, every accepted form, every error path."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from ..support import KPLUS_ID, KPLUS_SECRET, LiveServer, count_rows
from .builders import V1_HEADERS, creds, generate_body, uid

GEN = "/kplus/payment/generate-token"
GEN_V1 = "/v1/kplus/payment/generate-token"


def assert_error(r: httpx.Response, status: int, code: str, **echo: Any) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["statusCode"] == "10"
    assert body["errorCode"] == code
    assert isinstance(body["errorDesc"], str) and body["errorDesc"]
    assert set(body) == {"partnerTxnUid", "partnerId", "statusCode", "errorCode", "errorDesc"}
    for k, v in echo.items():
        assert body[k] == v
    return body


def test_generate_answers_every_documented_field(client: httpx.Client) -> None:
    body = generate_body()
    r = client.post(GEN, json=body)
    assert r.status_code == 200
    got = r.json()
    assert set(got) == {
        "partnerTxnUid",
        "partnerId",
        "statusCode",
        "errorCode",
        "errorDesc",
        "tokenId",
        "callBackAppUrl",
        "expiryDate",
    }
    assert got["partnerTxnUid"] == body["partnerTxnUid"]
    assert got["partnerId"] == KPLUS_ID
    assert got["statusCode"] == "00" and got["errorCode"] is None and got["errorDesc"] is None
    assert got["tokenId"].startswith("KMCMPT") and got["tokenId"].endswith("PMT")
    assert len(got["tokenId"]) == 49 and got["tokenId"][6:46].isalnum()
    assert got["callBackAppUrl"] == f"{client.base_url}/kplus/app/{got['tokenId']}"


def test_expiry_is_thirty_minutes_after_the_sandbox_now(client: httpx.Client) -> None:
    client.post("/_sandbox/clock/advance", json={"seconds": 3600})
    got = client.post(GEN, json=generate_body()).json()
    token = client.get(f"/_sandbox/kplus/tokens/{got['tokenId']}").json()
    from datetime import datetime

    created = datetime.fromisoformat(token["createdAt"])
    expires = datetime.fromisoformat(token["expiresAt"])
    assert (expires - created).total_seconds() == 1800
    # expiryDate is the same instant in Bangkok local time (UTC+7), KBank's example style
    local = datetime.fromisoformat(got["expiryDate"])
    assert local == expires.replace(tzinfo=None, microsecond=0).__add__(
        __import__("datetime").timedelta(hours=7)
    )


def test_token_ids_are_unique_and_unguessable(client: httpx.Client) -> None:
    ids = {client.post(GEN, json=generate_body()).json()["tokenId"] for _ in range(20)}
    assert len(ids) == 20
    middles = [i[6:46] for i in ids]
    assert len({m[:10] for m in middles}) == 20  # no shared prefix: not a counter


def test_v1_family_requires_matching_headers(client: httpx.Client) -> None:
    r = client.post(GEN_V1, json=generate_body(), headers=V1_HEADERS)
    assert r.status_code == 200 and r.json()["statusCode"] == "00"

    b = generate_body()
    r = client.post(GEN_V1, json=b)
    assert_error(r, 401, "authentication_error", partnerTxnUid=b["partnerTxnUid"])
    b = generate_body()
    r = client.post(GEN_V1, json=b, headers={"Partner-Id": "OTHER", "Partner-Secret": KPLUS_SECRET})
    body = assert_error(r, 401, "authentication_error")
    assert "match" in body["errorDesc"]
    r = client.post(
        GEN_V1,
        json=generate_body(),
        headers={"Partner-Id": KPLUS_ID, "Partner-Secret": "wrong-secret"},
    )
    body = assert_error(r, 401, "authentication_error")
    assert "wrong-secret" not in r.text and KPLUS_SECRET not in r.text


@pytest.mark.parametrize(
    ("field", "value", "stored"),
    [
        ("totalAmount", "500", 500.0),
        ("totalAmount", 500, 500.0),
        ("totalAmount", 500.5, 500.5),
        ("totalAmount", "12.25", 12.25),
        ("totalAmount", "000000005000", 50.0),  # documented 12-digit minor-unit form
        ("requestDt", 1519630776, None),
        ("requestDt", "1519630776", None),
        ("requestDt", "2019-07-04T18:00:42.411", None),
        ("requestDt", "2019-07-04T18:00:42+07:00", None),
        ("osPlatform", "android", None),
        ("shopImageUrl", "data:image/jpeg;base64,/9j/4AAQSkZJRg==", None),
        ("currencyExponent", 2, None),
    ],
)
def test_accepted_forms(client: httpx.Client, field: str, value: Any, stored: Any) -> None:
    r = client.post(GEN, json=generate_body(**{field: value}))
    assert r.status_code == 200, r.text
    if stored is not None:
        token = r.json()["tokenId"]
        inq = client.post("/kplus/payment/inquire-token", json=creds(tokenId=token)).json()
        assert inq["totalAmount"] == stored


def test_unknown_fields_are_ignored(client: httpx.Client) -> None:
    r = client.post(GEN, json=generate_body(somethingNew="x", nested={"a": 1}))
    assert r.status_code == 200 and r.json()["statusCode"] == "00"


MANDATORY = [
    "partnerTxnUid",
    "partnerId",
    "partnerSecret",
    "requestDt",
    "totalAmount",
    "shopImageUrl",
    "shopName",
    "shippingFee",
    "osPlatform",
    "currencyCode",
    "currencyExponent",
]


@pytest.mark.parametrize("field", MANDATORY)
def test_missing_mandatory_field(client: httpx.Client, field: str) -> None:
    body = generate_body()
    del body[field]
    body_err = assert_error(client.post(GEN, json=body), 400, "missing_parameter")
    assert field in body_err["errorDesc"]


@pytest.mark.parametrize("field", ["shopName", "osPlatform", "partnerTxnUid"])
def test_null_mandatory_field(client: httpx.Client, field: str) -> None:
    body_err = assert_error(
        client.post(GEN, json=generate_body(**{field: None})), 400, "missing_parameter"
    )
    assert field in body_err["errorDesc"]


def test_reference1_missing_or_empty(client: httpx.Client) -> None:
    body = generate_body()
    del body["reference1"]
    assert_error(client.post(GEN, json=body), 400, "invalid_reference1")
    assert_error(client.post(GEN, json=generate_body(reference1="  ")), 400, "invalid_reference1")


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("totalAmount", "-5", "invalid_txn_amount"),
        ("totalAmount", "abc", "invalid_txn_amount"),
        ("totalAmount", "1.234", "invalid_txn_amount"),
        ("totalAmount", "0", "invalid_txn_amount"),
        ("totalAmount", True, "invalid_txn_amount"),
        ("totalAmount", [1], "invalid_txn_amount"),
        ("totalAmount", "1e400", "invalid_txn_amount"),
        ("totalAmount", "NaN", "invalid_txn_amount"),
        ("shippingFee", "-1", "invalid_txn_amount"),
        ("currencyCode", "USD", "invalid_currency_code"),
        ("currencyExponent", "3", "invalid_parameter"),
        ("osPlatform", "WINDOWS", "invalid_parameter"),
        ("shopImageUrl", "ftp://x/y.png", "invalid_parameter"),
        ("shopName", 12, "invalid_parameter"),
        ("shopName", "x" * 256, "invalid_parameter"),
        ("partnerTxnUid", "u" * 65, "invalid_parameter"),
        ("reference1", "r" * 65, "invalid_parameter"),
        ("requestDt", "yesterday", "invalid_parameter"),
        ("requestDt", -1, "invalid_parameter"),
        ("items", "not-a-list", "invalid_parameter"),
        ("items", [{"itemName": "a", "quantity": "-1", "amount": "1"}], "invalid_parameter"),
        ("items", [{"itemName": "a", "quantity": "1", "amount": "x"}], "invalid_txn_amount"),
    ],
)
def test_invalid_values(client: httpx.Client, field: str, value: Any, code: str) -> None:
    body = generate_body(**{field: value})
    err = assert_error(client.post(GEN, json=body), 400, code)
    if field != "partnerTxnUid":
        assert err["partnerTxnUid"] == body["partnerTxnUid"]
        assert err["partnerId"] == KPLUS_ID


def test_malformed_json_and_non_object(client: httpx.Client) -> None:
    h = {"Content-Type": "application/json"}
    assert_error(
        client.post(GEN, content=b'{"partnerTxnUid": "x",', headers=h),
        400,
        "bad_request",
        partnerTxnUid=None,
    )
    assert_error(client.post(GEN, content=b"[1, 2]", headers=h), 400, "bad_request")
    assert_error(client.post(GEN, content=b"", headers=h), 400, "bad_request")
    assert_error(client.post(GEN, content=b"\xff\xfe", headers=h), 400, "bad_request")


def test_wrong_content_type(client: httpx.Client) -> None:
    r = client.post(
        GEN,
        content=b"partnerId=PTR1902369",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert_error(r, 415, "unsupported_media_type")
    r = client.post(GEN, content=b"{}")  # no Content-Type at all
    assert_error(r, 415, "unsupported_media_type")
    r = client.post(
        GEN, json=generate_body(), headers={"Content-Type": "Application/JSON; charset=UTF-8"}
    )
    assert r.status_code == 200


def test_body_over_the_limit(client: httpx.Client) -> None:
    huge = generate_body(shopImageUrl="data:image/png;base64," + "A" * 1_100_000)
    assert_error(client.post(GEN, json=huge), 413, "request_too_large")


def test_wrong_secret_and_unknown_partner_look_the_same(client: httpx.Client) -> None:
    a = assert_error(
        client.post(GEN, json=generate_body(partnerSecret="nope")), 401, "authentication_error"
    )
    b = assert_error(
        client.post(GEN, json=generate_body(partnerId="PTR0000000")), 401, "authentication_error"
    )
    assert a["errorDesc"] == b["errorDesc"]
    assert "nope" not in a["errorDesc"]


def test_duplicate_partner_txn_uid(client: httpx.Client) -> None:
    body = generate_body()
    assert client.post(GEN, json=body).status_code == 200
    err = assert_error(
        client.post(GEN, json=body), 409, "duplicate_request", partnerTxnUid=body["partnerTxnUid"]
    )
    assert "partnerTxnUid" in err["errorDesc"]


def test_a_nul_character_in_a_field_is_no_server_error(client: httpx.Client) -> None:
    """JSON's "\u0000" in the claim and in stored text: a 500 on PostgreSQL (its text holds no
    NUL) until the store took it as U+FFFD; the claim still holds, the answer echoes it."""
    body = generate_body(partnerTxnUid="nul\u0000uid", reference1="r\u0000", shopName="s\u0000")
    r = client.post(GEN, json=body)
    assert r.status_code == 200, r.text
    assert r.json()["partnerTxnUid"] == "nul\u0000uid" and r.json()["statusCode"] == "00"
    assert_error(
        client.post(GEN, json=body), 409, "duplicate_request", partnerTxnUid="nul\u0000uid"
    )
    found = client.get("/_sandbox/requests", params={"objectId": "x\u0000"})
    assert found.status_code == 200 and found.json()["requests"] == []


def stored(server: LiveServer, txn_uid: str) -> dict[str, int]:
    """What the database holds: all K PLUS tokens, uid claims and token events, and those of
    one partnerTxnUid."""
    tokens_of_uid = "SELECT token_id FROM kplus_tokens WHERE partner_txn_uid = ?"
    return count_rows(
        server.settings.db_url,
        {
            "tokens": ("SELECT COUNT(*) AS n FROM kplus_tokens", ()),
            "claims": ("SELECT COUNT(*) AS n FROM kplus_request_uids", ()),
            "events": ("SELECT COUNT(*) AS n FROM events WHERE object_type = 'kplus_token'", ()),
            "uid tokens": (f"SELECT COUNT(*) AS n FROM ({tokens_of_uid}) t", (txn_uid,)),
            "uid claims": (
                "SELECT COUNT(*) AS n FROM kplus_request_uids WHERE partner_txn_uid = ?",
                (txn_uid,),
            ),
            "uid events": (
                f"SELECT COUNT(*) AS n FROM events WHERE object_id IN ({tokens_of_uid})",
                (txn_uid,),
            ),
        },
    )


@pytest.mark.parametrize("amount", ["500", "4001.00"])  # 4001.00: declined, a second event
def test_a_duplicate_partner_txn_uid_writes_nothing(
    client: httpx.Client, server: LiveServer, amount: str
) -> None:
    body = generate_body(totalAmount=amount, items=[])
    the_uid = body["partnerTxnUid"]
    before = stored(server, the_uid)
    assert client.post(GEN, json=body).status_code == 200
    n_events = 2 if amount == "4001.00" else 1
    first = stored(server, the_uid)
    assert first == {
        "tokens": before["tokens"] + 1,
        "claims": before["claims"] + 1,
        "events": before["events"] + n_events,
        "uid tokens": 1,
        "uid claims": 1,
        "uid events": n_events,
    }
    for again in (body, {**body, "reference1": "another", "totalAmount": "700"}):
        assert_error(client.post(GEN, json=again), 409, "duplicate_request")
        assert stored(server, the_uid) == first


def _created_and_expiry_ms(client: httpx.Client, token: str) -> tuple[int, int]:
    from datetime import datetime

    view = client.get(f"/_sandbox/kplus/tokens/{token}").json()
    return tuple(  # type: ignore[return-value]
        int(datetime.fromisoformat(view[k]).timestamp() * 1000) for k in ("createdAt", "expiresAt")
    )


def test_a_partner_changed_since_the_last_request_is_seen_at_once(
    client: httpx.Client, server: LiveServer
) -> None:
    """generate-token keeps each partner as it last read it (so a request needs no read of
    it); a secret, TTL or clock changed since is seen by the very next request."""
    path = f"/_sandbox/kplus/partners/{KPLUS_ID}"
    assert client.post(GEN, json=generate_body()).status_code == 200  # the partner as read now

    assert client.put(path, json={"tokenTtlSeconds": 60}).status_code == 200
    token = client.post(GEN, json=generate_body()).json()["tokenId"]
    created, expires = _created_and_expiry_ms(client, token)
    assert expires - created == 60_000

    for clock in (f"{path}/clock", "/_sandbox/clock"):  # the partner's own, then the sandbox's
        assert client.post(f"{clock}/advance", json={"seconds": 7200}).status_code == 200
        before = client.get(f"{path}/clock").json()["nowUnixMs"]
        token = client.post(GEN, json=generate_body()).json()["tokenId"]
        after = client.get(f"{path}/clock").json()["nowUnixMs"]
        created, _ = _created_and_expiry_ms(client, token)
        assert before <= created <= after

    assert client.put(path, json={"partnerSecret": "a-new-secret-0001"}).status_code == 200
    old = generate_body()
    before_refusal = stored(server, old["partnerTxnUid"])
    assert_error(client.post(GEN, json=old), 401, "authentication_error")
    assert stored(server, old["partnerTxnUid"]) == before_refusal  # nothing kept, uid not burned
    r = client.post(GEN, json={**old, "partnerSecret": "a-new-secret-0001"})
    assert r.status_code == 200 and r.json()["statusCode"] == "00"
    assert_error(client.post(GEN, json=generate_body()), 401, "authentication_error")


def test_a_refused_request_changes_nothing(client: httpx.Client) -> None:
    """A request refused for any reason leaves no token and does not burn its partnerTxnUid."""
    the_uid = uid("keep")
    for bad in (dict(totalAmount="-1"), dict(partnerSecret="wrong"), dict(currencyCode="USD")):
        r = client.post(GEN, json=generate_body(partnerTxnUid=the_uid, **bad))
        assert r.json()["statusCode"] == "10"
    r = client.post(GEN, json=generate_body(partnerTxnUid=the_uid))
    assert r.status_code == 200 and r.json()["statusCode"] == "00"


def test_unknown_route_and_wrong_method(client: httpx.Client) -> None:
    assert_error(client.post("/kplus/payment/refund-token", json={}), 404, "not_found")
    assert_error(client.get(GEN), 405, "method_not_allowed")
    assert_error(client.get("/v1/kplus/whatever"), 404, "not_found")


def test_deeply_nested_json_is_a_bad_request(client: httpx.Client) -> None:
    nested = b'{"a":' * 5000 + b"1" + b"}" * 5000
    h = {"Content-Type": "application/json"}
    for path in (GEN, "/kplus/payment/inquire-token", "/v1/kplus/payment/cancel-token"):
        assert_error(client.post(path, content=nested, headers=h), 400, "bad_request")
    r = client.post("/_sandbox/clock/advance", content=nested, headers=h)
    assert r.status_code == 400 and r.json()["error"] == "bad_request"


def test_trailing_slash_is_an_unknown_route_not_a_redirect(client: httpx.Client) -> None:
    r = client.post(GEN + "/", json=generate_body(), follow_redirects=False)
    assert_error(r, 404, "not_found")
    assert "location" not in r.headers
    r = client.get("/_sandbox/clock/", follow_redirects=False)
    assert r.status_code == 404 and r.json()["error"] == "not_found"
