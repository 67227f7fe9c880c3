"""NICEPay v2 Direct API (registration / payment / inquiry / cancel, notification to dbProcessUrl).

Contract: shared/spec/nicepay.md and seed 003; choices where the documents are silent or
contradict themselves are written in docs/nicepay.md.
"""
