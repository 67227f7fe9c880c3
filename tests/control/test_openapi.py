"""The OpenAPI document lists every route of the running app, each with a real summary, and the
request schemas match the structs that decode the requests."""

from __future__ import annotations

import httpx
from starlette.routing import Route

from ..support import LiveServer


def test_every_route_is_documented(server: LiveServer, client: httpx.Client) -> None:
    r = client.get("/_sandbox/openapi.json")
    assert r.status_code == 200
    doc = r.json()
    assert doc["openapi"] == "3.1.0" and doc["info"]["title"] == "paysandbox"
    listed = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
    for route in server.app.routes:
        assert isinstance(route, Route)
        if route.path.endswith("/"):
            continue
        for method in (route.methods or set()) - {"HEAD"}:
            assert (method, route.path) in listed, (method, route.path)
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            assert not op["summary"].startswith(f"{method.upper()} "), (method, path)
            assert op["tags"] and op["tags"][0] != "other", (method, path)


def test_request_schemas_carry_the_wire_names(client: httpx.Client) -> None:
    doc = client.get("/_sandbox/openapi.json").json()
    schemas = doc["components"]["schemas"]
    gen = doc["paths"]["/kplus/payment/generate-token"]["post"]
    ref = gen["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    generate = schemas[ref.rsplit("/", 1)[1]]
    assert {
        "partnerTxnUid",
        "partnerId",
        "partnerSecret",
        "requestDt",
        "reference1",
        "totalAmount",
        "shopImageUrl",
        "shopName",
        "shippingFee",
        "osPlatform",
        "currencyCode",
        "currencyExponent",
    } <= set(generate["required"])
    assert generate["properties"]["partnerTxnUid"]["maxLength"] == 64
    pay = doc["paths"]["/v1/payments"]["post"]["requestBody"]["content"]["application/json"]
    wrapper = schemas[pay["schema"]["$ref"].rsplit("/", 1)[1]]
    assert set(wrapper["properties"]) == {"Payment"}
    reg = doc["paths"]["/nicepay/direct/v2/registration"]["post"]["requestBody"]
    assert (
        "merchantToken"
        in schemas[reg["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]][
            "properties"
        ]
    )
    form = doc["paths"]["/nicepay/direct/v2/payment"]["post"]["requestBody"]["content"]
    assert "application/x-www-form-urlencoded" in form
    assert (
        doc["paths"]["/_sandbox/kplus/tokens/{token_id}/pay"]["post"]["parameters"][0]["name"]
        == "token_id"
    )


def test_the_sign_in_routes_are_documented(client: httpx.Client) -> None:
    """The guard serves them (no route of the app): they are in the document all the same."""
    paths = client.get("/_sandbox/openapi.json").json()["paths"]
    login = paths["/_sandbox/login"]
    assert set(login) == {"get", "post"}
    form = login["post"]["requestBody"]["content"]["application/x-www-form-urlencoded"]
    assert form["schema"]["required"] == ["token"]
    assert set(login["post"]["responses"]) == {"303", "401", "429"}
    assert paths["/_sandbox/logout"]["post"]["tags"] == ["control"]
    assert login["get"]["operationId"] != login["post"]["operationId"]
