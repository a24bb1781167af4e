"""SQLSTATEs HugMood's own database code raises, and how to recognise them under a driver's wrapping.

Kept free of project imports: the error mapping (shared.errors), the consumers (shared.events) and
the data-rights triggers (shared.datarights) all read it, and it must sit below each of them.
"""

from __future__ import annotations

# Raised by a data-rights guard trigger refusing a row that names an erased user.
ERASED_SQLSTATE = "HM410"


def is_erasure_refusal(exc: BaseException | None) -> bool:
    """True if `exc` (or what it wraps) is a guard refusing a row that names an erased user."""
    seen = 0
    while exc is not None and seen < 5:
        if getattr(exc, "pgcode", None) == ERASED_SQLSTATE:
            return True
        exc = getattr(exc, "orig", None) or exc.__cause__
        seen += 1
    return False
