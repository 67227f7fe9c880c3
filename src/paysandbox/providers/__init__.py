"""The registration list: the one place outside a provider's folder that names it.

Each entry is a ``plugin.Provider`` object; ``create_app``, the CLI, the config loader, the
migrations and reset take every provider from here (docs/adding-a-provider.md).
"""

from __future__ import annotations

from ..plugin import AnyProvider
from .kplus.plugin import provider as kplus
from .nicepay.plugin import provider as nicepay
from .smart2pay.plugin import provider as smart2pay

REGISTERED: tuple[AnyProvider, ...] = (kplus, nicepay, smart2pay)
