"""Smart2Pay: indexes of captures by payment and of card tokens by site. Neither had one:
``GET /v1/payments/{id}/captures`` scanned the captures of every payment of every site, and the
dashboard's card tokens of one site (and a site's removal) every token of every site
(docs/design.md, "Plans on a never-analyzed schema").

* ``ix_s2p_captures_payment`` (payment, id): a payment's captures, newest first, and one
  capture of a payment;
* ``ix_s2p_tokens_site`` (site, created): a site's tokens, newest first.

Revision ID: s0008 (smart2pay branch, after s0007)
"""

from __future__ import annotations

from alembic import op

revision = "s0008"
down_revision = "s0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_s2p_captures_payment", "smart2pay_captures", ["payment_id", "id"])
    op.create_index("ix_s2p_tokens_site", "smart2pay_tokens", ["site_id", "created_at_us"])


def downgrade() -> None:
    op.drop_index("ix_s2p_tokens_site", "smart2pay_tokens")
    op.drop_index("ix_s2p_captures_payment", "smart2pay_captures")
