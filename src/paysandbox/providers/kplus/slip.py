"""The K PLUS payment slip: a real PNG drawn with Pillow, returned base64 as ``slipImage``.

It shows the amount and currency, the shop, reference1, the payment reference, the payment
date/time in Bangkok time, the masked account and the token id, under a "simulated" footer so
nobody mistakes it for a KBank document.

Text uses Pillow's built-in font (``ImageFont.load_default(size=…)``, FreeType), so no system
font is needed and the slip looks the same on every machine. That font covers Latin letters,
digits and punctuation only: other characters are reduced to their ASCII base letter where one
exists (``é`` → ``e``) and otherwise drawn as ``?``.

``render`` runs inside the pay transaction (on a database thread), so it is kept small and
fast: one 480×640 RGB canvas, fonts and glyph checks cached, PNG at a light compression level.
"""

from __future__ import annotations

import base64
import io
import unicodedata
from functools import lru_cache

from PIL import Image, ImageDraw, ImageFont

from ...core.amounts import format_major
from ...core.clock import to_datetime
from ...store.db import Row
from .rules import BANGKOK

WIDTH, HEIGHT = 480, 640
GREEN = (0, 169, 80)
DARK_GREEN = (0, 122, 58)
INK = (33, 37, 41)
MUTED = (108, 117, 125)
RULE = (222, 226, 230)
PAPER = (255, 255, 255)
TINT = (232, 247, 238)

Font = ImageFont.FreeTypeFont | ImageFont.ImageFont


@lru_cache(maxsize=8)
def _font(size: int) -> Font:
    return ImageFont.load_default(size=size)


@lru_cache(maxsize=1)
def _notdef_signature() -> bytes:
    mask = _font(20).getmask("\uffff")
    return bytes(mask) + repr(mask.size).encode()


@lru_cache(maxsize=4096)
def _drawable(ch: str) -> bool:
    """Whether the built-in font has a glyph for ``ch`` (not its 'missing glyph' box)."""
    if ch == " ":
        return True
    mask = _font(20).getmask(ch)
    return bytes(mask) + repr(mask.size).encode() != _notdef_signature()


def printable(text: str | None) -> str:
    """``text`` reduced to characters the built-in font can draw."""
    if not text:
        return ""
    out = []
    for ch in text:
        if _drawable(ch):
            out.append(ch)
            continue
        base = "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))
        out.append(base if base and all(_drawable(c) for c in base) else "?")
    return "".join(out)


def _fit(draw: ImageDraw.ImageDraw, text: str, font: Font, width: float) -> str:
    """``text``, shortened with an ellipsis until it fits in ``width`` pixels."""
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + "...", font=font) > width:
        text = text[:-1]
    return text + "..."


def _check_mark(draw: ImageDraw.ImageDraw, cx: int, cy: int, r: int) -> None:
    draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=PAPER)
    draw.line(
        [
            (cx - r * 0.45, cy + r * 0.02),
            (cx - r * 0.1, cy + r * 0.36),
            (cx + r * 0.5, cy - r * 0.3),
        ],
        fill=GREEN,
        width=max(3, r // 5),
        joint="curve",
    )


def render_png(
    *,
    amount_minor: int,
    currency: str,
    shop_name: str,
    reference1: str | None,
    payment_reference: str,
    paid_at_us: int,
    masked_account: str,
    token_id: str,
) -> bytes:
    """The slip as PNG bytes."""
    img = Image.new("RGB", (WIDTH, HEIGHT), PAPER)
    d = ImageDraw.Draw(img)
    margin = 32
    inner = WIDTH - 2 * margin

    # Header band: brand, check mark, title.
    d.rectangle((0, 0, WIDTH, 150), fill=GREEN)
    d.text((margin, 24), "K PLUS", font=_font(26), fill=PAPER, stroke_width=1, stroke_fill=PAPER)
    d.text((WIDTH - margin, 30), "paysandbox", font=_font(15), fill=TINT, anchor="ra")
    _check_mark(d, margin + 22, 104, 22)
    d.text((margin + 58, 90), "Payment successful", font=_font(24), fill=PAPER)

    # Amount.
    y = 176
    d.text((margin, y), "Amount", font=_font(16), fill=MUTED)
    amount = f"{format_major(amount_minor):,}"
    d.text((margin, y + 24), amount, font=_font(40), fill=INK, stroke_width=1, stroke_fill=INK)
    d.text(
        (margin + d.textlength(amount, font=_font(40)) + 12, y + 44),
        printable(currency),
        font=_font(20),
        fill=MUTED,
    )
    y += 92
    d.line((margin, y, WIDTH - margin, y), fill=RULE, width=1)

    # Details.
    when = to_datetime(paid_at_us, BANGKOK).strftime("%d %b %Y  %H:%M:%S")
    rows = [
        ("Paid to", printable(shop_name)),
        ("Reference 1", printable(reference1) or "-"),
        ("Payment ref.", payment_reference),
        ("Date/time", f"{when} (Bangkok)"),
        ("From account", masked_account),
    ]
    label_font, value_font = _font(15), _font(18)
    y += 16
    for label, value in rows:
        d.text((margin, y + 2), label, font=label_font, fill=MUTED)
        d.text(
            (WIDTH - margin, y),
            _fit(d, value, value_font, inner - 130),
            font=value_font,
            fill=INK,
            anchor="ra",
        )
        y += 38
    d.line((margin, y, WIDTH - margin, y), fill=RULE, width=1)

    # Token id: too long for one line at a readable size, so on a line of its own.
    y += 14
    d.text((margin, y), "Token ID", font=label_font, fill=MUTED)
    d.text((margin, y + 22), _fit(d, token_id, _font(13), inner), font=_font(13), fill=INK)

    # Footer.
    d.rectangle((0, HEIGHT - 56, WIDTH, HEIGHT), fill=TINT)
    d.text(
        (WIDTH // 2, HEIGHT - 28),
        "Simulated slip - paysandbox, not a KBank document",
        font=_font(13),
        fill=DARK_GREEN,
        anchor="mm",
    )

    buf = io.BytesIO()
    img.save(buf, "PNG", compress_level=3)
    return buf.getvalue()


def render(row: Row, paid_at_us: int, reference: str, masked_account: str) -> str:
    """The slip for a token being paid, base64 (no ``data:`` prefix): a ``SlipRenderer``."""
    png = render_png(
        amount_minor=int(row["total_amount"]),
        currency=str(row["currency_code"]),
        shop_name=str(row["shop_name"]),
        reference1=row["reference1"],
        payment_reference=reference,
        paid_at_us=paid_at_us,
        masked_account=masked_account,
        token_id=str(row["token_id"]),
    )
    return base64.b64encode(png).decode("ascii")


def warm_up() -> None:
    """Load the fonts now, so the first payment does not pay for it inside its transaction."""
    for size in (13, 15, 16, 18, 20, 24, 26, 40):
        _font(size)
    _notdef_signature()
