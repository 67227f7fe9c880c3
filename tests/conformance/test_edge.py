"""The conformance kit: the request edge's guarantees, checked for every registered provider
and for the control plane, over HTTP against the real app. A provider added to the registration
list gets every test here without writing one (docs/adding-a-provider.md).

For each failure the edge detects, the answer must be the owner's own error for it: the same
status and media type, the same JSON shape (keys, recursively) and the owner's code somewhere
in the body — never a 5xx, a framework page or a traceback.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from starlette.requests import Request

from paysandbox.control.errors import CONTROL
from paysandbox.edge import Failure, Owner
from paysandbox.plugin import AnyProvider
from paysandbox.providers import REGISTERED
from paysandbox.store.db import open_database

from ..support import LiveServer

PROVIDERS = {p.name: p for p in REGISTERED}
OWNERS: dict[str, Owner] = {**PROVIDERS, "control": CONTROL}


def _shape(doc: Any) -> Any:
    if isinstance(doc, dict):
        return {k: _shape(v) for k, v in doc.items()}
    if isinstance(doc, list):
        return [_shape(v) for v in doc[:1]]
    return type(doc).__name__ if doc is not None else "null"


def _values(doc: Any) -> Iterator[str]:
    if isinstance(doc, dict):
        for v in doc.values():
            yield from _values(v)
    elif isinstance(doc, list):
        for v in doc:
            yield from _values(v)
    elif isinstance(doc, str):
        yield doc


def expected_error(owner: Owner, failure: Failure, path: str) -> tuple[int, str, Any, str]:
    err = owner.edge_error(failure, "x")
    response = err.render(Request({"type": "http", "path": path, "headers": []}))
    return response.status_code, response.media_type or "", json.loads(response.body), err.wire_code


def assert_owner_error(r: httpx.Response, owner: Owner, failure: Failure) -> None:
    status, media, body, code = expected_error(owner, failure, r.request.url.path)
    assert r.status_code == status, (failure, r.status_code, r.text)
    assert r.status_code < 500
    assert r.headers["content-type"] == media
    got = r.json()
    if "partnerTxnUid" in body:  # an echo of the request may be text where the model has null
        for k in ("partnerTxnUid", "partnerId"):
            got[k] = body[k] if got.get(k) is None else got[k]
            body[k] = got[k]
    assert _shape(got) == _shape(body), r.text
    assert code in set(_values(got)), (code, r.text)
    assert "Traceback" not in r.text


@pytest.fixture(params=sorted(PROVIDERS))
def provider(request: pytest.FixtureRequest) -> AnyProvider:
    return PROVIDERS[request.param]


def _json_op(client: httpx.Client, provider: AnyProvider) -> tuple[str, str, dict[str, str]]:
    ex = provider.example()
    headers = {k: v for k, v in ex.headers.items() if k.lower() != "content-type"}
    return ex.method, ex.path, headers


def _send(client: httpx.Client, method: str, path: str, headers: dict[str, str], **kw: Any) -> Any:
    return client.request(method, path, headers=headers, **kw)


JSON = {"Content-Type": "application/json"}
BAD_BODIES: dict[str, bytes] = {
    "invalid UTF-8": b'{"a":"\xff\xfe"}',
    "deep nesting": b"[" * 100_000 + b"]" * 100_000,
    "deep nesting in an object": b'{"a":' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    "duplicate keys": b'{"a":"1","a":"2"}',
    "not JSON": b'{"a":',
    "not an object": b"[1, 2]",
    "empty": b"",
}


def test_unknown_route(client: httpx.Client, provider: AnyProvider) -> None:
    for prefix in provider.prefixes:
        path = prefix.rstrip("/") + "/no/such/route"
        assert_owner_error(client.post(path, json={}), provider, "not_found")
        assert_owner_error(client.get(path), provider, "not_found")
        if prefix.endswith("/"):  # the prefix without its slash (``/nicepay``: the base URL)
            r = client.get(prefix.rstrip("/"))
            assert_owner_error(r, provider, "not_found")
            assert r.headers["x-sandbox-request-id"].startswith("req_")  # journaled as its own


def test_wrong_method_names_the_allowed_ones(client: httpx.Client, provider: AnyProvider) -> None:
    method, path, headers = _json_op(client, provider)
    wrong = "DELETE" if method != "DELETE" else "PATCH"
    r = _send(client, wrong, path, headers)
    assert_owner_error(r, provider, "method_not_allowed")
    assert method in {m.strip() for m in r.headers["allow"].split(",")}


def test_oversize_body(client: httpx.Client, provider: AnyProvider) -> None:
    method, path, headers = _json_op(client, provider)
    big = b'{"a":"' + b"x" * (2 * 1024 * 1024) + b'"}'
    r = _send(client, method, path, {**headers, **JSON}, content=big)
    assert_owner_error(r, provider, "too_large")


@pytest.mark.parametrize("case", sorted(BAD_BODIES))
def test_unreadable_bodies_are_4xx_in_the_owner_format(
    client: httpx.Client, provider: AnyProvider, case: str
) -> None:
    method, path, headers = _json_op(client, provider)
    r = _send(client, method, path, {**headers, **JSON}, content=BAD_BODIES[case])
    assert r.status_code < 500, r.text
    assert "Traceback" not in r.text
    if case not in ("not an object", "empty"):  # a provider may word those as a field error
        assert_owner_error(r, provider, "malformed")


def test_wrong_content_type(client: httpx.Client, provider: AnyProvider) -> None:
    ex = provider.example()
    headers = {k: v for k, v in ex.headers.items() if k.lower() != "content-type"}
    r = client.request(
        ex.method, ex.path, headers={**headers, "Content-Type": "text/csv"}, content=b"a,b\n1,2"
    )
    assert r.status_code < 500 and "Traceback" not in r.text
    assert_owner_error(r, provider, "content_type")


def _counts(db_url: str, tables: tuple[str, ...]) -> dict[str, int]:
    db = open_database(db_url)
    try:
        return db.write_sync(  # type: ignore[attr-defined, no-any-return]
            lambda c: {t: int(c.one(f"SELECT COUNT(*) AS n FROM {t}")["n"]) for t in tables}
        )
    finally:
        db.close()


def test_refused_requests_change_nothing(
    client: httpx.Client, server: LiveServer, provider: AnyProvider
) -> None:
    tables = (*provider.object_tables, "events", "deliveries")
    before = _counts(server.settings.db_url, tables)
    method, path, headers = _json_op(client, provider)
    ex = provider.example()
    for body in [*BAD_BODIES.values(), ex.body.replace(b'"', b"'", 1)]:
        _send(client, method, path, {**headers, **JSON}, content=body)
    _send(client, method, path, {**headers, "Content-Type": "text/plain"}, content=ex.body)
    assert _counts(server.settings.db_url, tables) == before


def test_the_example_works_and_reset_empties_the_provider_tables(
    client: httpx.Client, server: LiveServer, provider: AnyProvider
) -> None:
    ex = provider.example()
    r = client.request(ex.method, ex.path, headers=dict(ex.headers), content=ex.body)
    assert 200 <= r.status_code < 300, r.text
    made = _counts(server.settings.db_url, provider.object_tables)
    assert sum(made.values()) > 0, made
    assert client.post("/_sandbox/reset").status_code == 200
    assert set(_counts(server.settings.db_url, provider.object_tables).values()) == {0}
    accounts = _counts(server.settings.db_url, provider.credential_tables)
    assert all(n > 0 for n in accounts.values()), accounts  # re-seeded from the configuration


def test_every_route_is_in_the_openapi_document(client: httpx.Client, server: LiveServer) -> None:
    doc = client.get("/_sandbox/openapi.json").json()
    documented = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
    for op in server.app.state.sandbox.ops:
        if not op.alias:
            assert (op.method, op.path) in documented, (op.method, op.path)
    for route in server.app.routes:
        for method in set(route.methods or ()) - {"HEAD"}:  # type: ignore[attr-defined]
            path = route.path  # type: ignore[attr-defined]
            assert (method, path) in documented or (method, path.rstrip("/")) in documented


# ---------------------------------------------------------------- the control plane


def test_control_plane_edge(client: httpx.Client) -> None:
    assert_owner_error(client.get("/_sandbox/no/such/route"), CONTROL, "not_found")
    assert_owner_error(client.get("/nowhere-at-all"), CONTROL, "not_found")
    for near in ("/v1", "/v1/", "/v1/payment", "/kplusx", "/nicepay2"):  # no provider's prefix
        r = client.get(near)
        assert_owner_error(r, CONTROL, "not_found")
        assert "x-sandbox-request-id" not in r.headers  # not a provider request: not journaled
    r = client.get("/_sandbox/reset")
    assert_owner_error(r, CONTROL, "method_not_allowed")
    assert r.headers["allow"] == "POST"
    for case, body in BAD_BODIES.items():
        if case == "empty":
            continue  # an empty body means "all defaults" on the control API
        r = client.post("/_sandbox/clock/advance", content=body, headers=JSON)
        assert r.status_code < 500, (case, r.text)
        if case != "not an object":
            assert_owner_error(r, CONTROL, "malformed")
    r = client.post(
        "/_sandbox/clock/advance", content=b"seconds=5", headers={"Content-Type": "text/plain"}
    )
    assert_owner_error(r, CONTROL, "content_type")
    assert client.get("/_sandbox/clock").json()["offsetSeconds"] == 0
