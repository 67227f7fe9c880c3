"""Smart2Pay (GlobalPay) card API: card authentication tokens, token cancel, card payments,
captures, cancels, refunds, the documented test amounts and the notifications.

Contract: shared/spec/smart2pay.md and seed 004; choices where they are silent are written in
docs/smart2pay.md.
"""
