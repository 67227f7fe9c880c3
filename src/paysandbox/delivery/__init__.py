"""Durable, provider-neutral outbound callbacks (payment confirmations and notifications):
``outbox`` writes them in the caller's transaction, ``sender`` delivers them.
"""
