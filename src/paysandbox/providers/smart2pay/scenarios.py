"""Smart2Pay's test amounts ("Testing Requirements"): ONE table deciding every outcome.

The payment's ``Amount`` (minor units, 1154 = 11.54) selects the row; any amount without a row
of its own behaves like 1–10000 (everything succeeds). Each verb has a ``Step``: the status
entered at once, the return codes attached to it, and — for the queued/requested statuses —
the status it moves on to when the sandbox clock has advanced ``after_seconds``
(``POST /_sandbox/clock/advance``). ``CAPTURED`` means Captured, or PartiallyCaptured when a
smaller amount was captured.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Seconds a queued/requested status waits before moving on (sandbox clock).
QUEUE_SECONDS = 60

CAPTURED = "CAPTURED"  # Captured or PartiallyCaptured, by the captured amount


@dataclass(frozen=True)
class Step:
    status: str
    codes: tuple[str, ...] = ()
    then: str | None = None
    after_seconds: int = 0


@dataclass(frozen=True)
class Scenario:
    amount: int | None
    title: str
    create_capture: Step  # POST /v1/payments with Capture=true
    create_authorize: Step  # … with Capture=false (or absent)
    capture: Step  # POST /v1/payments/{id}/capture (from Authorized)
    cancel: Step  # POST /v1/payments/{id}/cancel (from Authorized)
    refund: str  # status of every refund: Success, or Open (stays Open)


_OK_CAPTURE = Step(CAPTURED)
_OK_AUTH = Step("Authorized")
_OK_CANCEL = Step("Cancelled")
_QUEUED_CAPTURE = Step("QueuedForCapturing", ("5288",), CAPTURED, QUEUE_SECONDS)
_REQUESTED_CAPTURE = Step("CaptureRequested", (), CAPTURED, QUEUE_SECONDS)
_TIME_LIMIT = Step("Failed", ("104",))

DEFAULT = Scenario(
    None,
    "1 – 10000 (and any amount without a row): every action succeeds",
    _OK_CAPTURE,
    _OK_AUTH,
    _OK_CAPTURE,
    _OK_CANCEL,
    "Success",
)

SCENARIOS: dict[int, Scenario] = {
    s.amount: s  # type: ignore[misc]
    for s in (
        Scenario(
            10001,
            "Failed: every transaction with this amount fails",
            Step("Failed", ("13",)),
            Step("Failed", ("13",)),
            _OK_CAPTURE,
            _OK_CANCEL,
            "Success",
        ),
        Scenario(
            10002,
            "QueuedForCapturing with 5288, then Captured",
            _QUEUED_CAPTURE,
            _OK_AUTH,
            _QUEUED_CAPTURE,
            _OK_CANCEL,
            "Success",
        ),
        Scenario(
            10003,
            "CaptureRequested, then Captured",
            _REQUESTED_CAPTURE,
            _OK_AUTH,
            _REQUESTED_CAPTURE,
            _OK_CANCEL,
            "Success",
        ),
        Scenario(
            10004,
            "Captured, but every refund stays Open",
            _OK_CAPTURE,
            _OK_AUTH,
            _OK_CAPTURE,
            _OK_CANCEL,
            "Open",
        ),
        Scenario(
            10005,
            "Failed: capture time limit overdue (104)",
            _TIME_LIMIT,
            _OK_AUTH,
            _TIME_LIMIT,
            _OK_CANCEL,
            "Success",
        ),
        Scenario(
            10006,
            "cancel → QueuedForCanceling, then Cancelled",
            _OK_CAPTURE,
            _OK_AUTH,
            _OK_CAPTURE,
            Step("QueuedForCanceling", (), "Cancelled", QUEUE_SECONDS),
            "Success",
        ),
    )
}


def scenario_for(amount: int) -> Scenario:
    return SCENARIOS.get(amount, DEFAULT)


def resolve(status: str, captured: int, amount: int) -> str:
    if status != CAPTURED:
        return status
    return "Captured" if captured >= amount else "PartiallyCaptured"
