"""Provider-neutral core: amounts, ids, the sandbox clock, state machines, events, credentials.

Nothing in here knows a provider's wire format, speaks SQL or HTTP.
"""
