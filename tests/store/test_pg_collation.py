"""Lists sort text by its bytes on both engines, whatever the PostgreSQL database's collation:
on a database created with an ICU ``en-US`` locale, partners, merchants and the tie-breakers
of listings came back in that locale's order (``_under ~tilde 10lives … ab AB alpha Alpha``),
not SQLite's (found by a parity probe of both engines)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import pytest

from ..support import BACKEND, LiveServer, is_postgres, test_settings

pytestmark = pytest.mark.skipif(not is_postgres(), reason="PostgreSQL only")

IDS = ["ab", "AB", "alpha", "Alpha", "_under", "~tilde", "10lives", "9lives", "Zed", "zed"]
IMIDS = [i for i in IDS if i.isalnum()]  # an iMid is letters and digits


@pytest.fixture
def icu_db_url() -> Iterator[str]:
    import psycopg

    name = f"paysandbox_icu_{secrets.token_hex(4)}"
    with psycopg.connect(BACKEND, autocommit=True) as c:
        try:
            c.execute(
                f"CREATE DATABASE {name} TEMPLATE template0 LOCALE_PROVIDER icu "
                "ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'"
            )
        except psycopg.Error as exc:  # a server without ICU: nothing to compare against
            pytest.skip(f"no ICU database can be created here: {exc}")
    parts = urlsplit(BACKEND)
    yield urlunsplit(parts._replace(path=f"/{name}"))
    with psycopg.connect(BACKEND, autocommit=True) as c:
        c.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def test_partner_and_merchant_lists_sort_by_bytes(icu_db_url: str) -> None:
    live = LiveServer(test_settings(icu_db_url))
    try:
        with live.client() as c:
            for n, pid in enumerate(IDS):
                r = c.put(f"/_sandbox/kplus/partners/{pid}", json={"partnerSecret": f"s{n:07d}"})
                assert r.status_code == 200, r.text
            for n, imid in enumerate(IMIDS):
                r = c.put(
                    f"/_sandbox/nicepay/merchants/{imid}", json={"merchantKey": f"key-{n:06d}"}
                )
                assert r.status_code == 200, r.text
            partners = [
                p["partnerId"] for p in c.get("/_sandbox/kplus/partners").json()["partners"]
            ]
            mine = [p for p in partners if p in IDS]
            assert mine == sorted(IDS, key=lambda s: s.encode()), mine
            merchants = c.get("/_sandbox/nicepay/merchants").json()["merchants"]
            imids = [m["iMid"] if isinstance(m, dict) else m for m in merchants]
            assert [m for m in imids if m in IMIDS] == sorted(IMIDS, key=lambda s: s.encode())
    finally:
        live.stop()
