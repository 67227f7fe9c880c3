"""The sandbox control plane under ``/_sandbox/``: clock, reset, deliveries (provider-neutral).

Provider-specific control routes (pay a token, expire a transaction …) live in each provider's
``control.py`` and share this package's error format.
"""
