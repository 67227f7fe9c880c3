"""Durable, provider-neutral outbound callbacks (K PLUS confirm payment, NICEPay and Smart2Pay
notifications): ``outbox`` writes them in the caller's transaction, ``sender`` delivers them.
"""
