"""Alembic environment: always run online on the connection ``store.migrate`` hands over.

That connection is already inside the one transaction ``store.migrate.upgrade`` owns, so
Alembic neither begins nor commits: every revision of every branch commits together.
"""

from __future__ import annotations

from alembic import context

connection = context.config.attributes["connection"]
if not connection.in_transaction():  # pragma: no cover - store.migrate always begins one
    raise RuntimeError("run migrations through paysandbox.store.migrate.upgrade")
context.configure(connection=connection, transactional_ddl=True)
with context.begin_transaction():
    context.run_migrations()
