"""KBank K PLUS payment-token API (generate / inquire / cancel, Confirm Payment callback).

Contract: shared/spec/kplus.md and seeds 000–002; choices where they are silent are written in
docs/kplus.md.
"""
