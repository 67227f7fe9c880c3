"""What clients sent and how the providers misbehave on purpose: the request journal, API
fault injection, Prometheus metrics and the health check (see docs/control.md)."""
