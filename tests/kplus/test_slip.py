"""The payment slip: a real PNG drawn by Pillow, returned base64 by inquire-token."""

from __future__ import annotations

import base64
import binascii
import io
from datetime import datetime
from typing import Any

import httpx
from PIL import Image

from paysandbox.providers.kplus import slip

from .builders import creds, generate_body

ROW: dict[str, Any] = {
    "total_amount": 123450,
    "currency_code": "THB",
    "shop_name": "Café Kasikorn ร้าน",
    "reference1": "KS1234567",
    "token_id": "KMCMPT" + "a1b2c3d4e5" * 4 + "PMT",
}
PAID_AT = 1_720_000_000_000_000  # 2024-07-03 09:46:40 UTC = 16:46:40 in Bangkok


def decode(b64: str) -> Image.Image:
    raw = base64.b64decode(b64, validate=True)
    assert raw.startswith(b"\x89PNG\r\n\x1a\n")
    img = Image.open(io.BytesIO(raw))
    img.load()
    return img


def test_render_is_a_base64_png_without_data_prefix() -> None:
    b64 = slip.render(ROW, PAID_AT, "20240703123456789012", "x-x-x6789-x")
    assert not b64.startswith("data:")
    img = decode(b64)
    assert img.format == "PNG" and img.size == (slip.WIDTH, slip.HEIGHT)
    rgb = img.convert("RGB")
    assert rgb.getpixel((5, 5)) == slip.GREEN  # the K PLUS green header band
    assert rgb.getpixel((5, 300)) == slip.PAPER


def test_every_value_changes_the_picture() -> None:
    """Each field is actually drawn: changing any one changes the pixels."""
    base = dict(ROW)
    args = ("20240703123456789012", "x-x-x6789-x")
    reference = decode(slip.render(base, PAID_AT, *args)).tobytes()
    variants = [
        slip.render({**base, "total_amount": 123460}, PAID_AT, *args),
        slip.render({**base, "shop_name": "Another shop"}, PAID_AT, *args),
        slip.render({**base, "reference1": "KS7654321"}, PAID_AT, *args),
        slip.render({**base, "token_id": base["token_id"].replace("a", "b")}, PAID_AT, *args),
        slip.render(base, PAID_AT + 60_000_000, *args),
        slip.render(base, PAID_AT, "20240703999999999999", args[1]),
        slip.render(base, PAID_AT, args[0], "x-x-x1111-x"),
    ]
    for v in variants:
        assert decode(v).tobytes() != reference


def test_text_the_builtin_font_cannot_draw_is_reduced() -> None:
    assert slip.printable("Café Crème") == "Cafe Creme"
    assert slip.printable("ร้าน Shop") == "???? Shop"
    assert slip.printable(None) == ""


def test_inquire_returns_the_slip_of_the_payment(client: httpx.Client) -> None:
    gen = client.post("/kplus/payment/generate-token", json=generate_body()).json()
    inquiry = creds(tokenId=gen["tokenId"])
    assert client.post("/kplus/payment/inquire-token", json=inquiry).json()["slipImage"] is None

    client.post(
        f"/_sandbox/kplus/tokens/{gen['tokenId']}/pay", json={"paymentAccount": "9876543210"}
    )
    body = client.post("/kplus/payment/inquire-token", json=creds(tokenId=gen["tokenId"])).json()
    assert body["paymentStatus"] == "PAID"
    try:
        img = decode(body["slipImage"])
    except binascii.Error as exc:  # pragma: no cover - a failure message worth reading
        raise AssertionError(f"slipImage is not base64: {exc}") from exc
    assert img.size == (slip.WIDTH, slip.HEIGHT)
    # The stored slip is the one drawn for this payment: same reference, account and time.
    view = client.get(f"/_sandbox/kplus/tokens/{gen['tokenId']}").json()
    assert "slipImage" not in view  # the control view links to the PNG instead of repeating it
    assert view["slipImageUrl"].endswith(f"/_sandbox/kplus/tokens/{gen['tokenId']}/slip.png")
    png = client.get(view["slipImageUrl"])
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    assert png.content == base64.b64decode(body["slipImage"])
    paid_at = datetime.fromisoformat(view["paidAt"])
    expected = slip.render(
        {
            "total_amount": 50000,
            "currency_code": "THB",
            "shop_name": "Kasikorn Shop",
            "reference1": "KS1234567",
            "token_id": gen["tokenId"],
        },
        int(paid_at.timestamp()) * 1_000_000,
        body["paymentRefernceId"],
        body["paymentAccount"],
    )
    assert decode(expected).tobytes() == img.tobytes()
