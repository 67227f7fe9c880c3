"""``python -m paysandbox``."""

from .cli import main

raise SystemExit(main())
