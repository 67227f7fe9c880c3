"""Network-facing protections that belong to no provider: the request guard (Host check,
control-plane authentication, cross-site refusal, path ids, framing headers), the sign-in page,
and the connection limits of the HTTP server."""
