"""OMA's in-band error numbers and the exception handlers raise to produce them.

Only the texts of errors 1 and 2 are known verbatim (upstream-facts §3, §3.1); the others are
paraphrases of the documented meanings, so nothing should match on them.
"""

from __future__ import annotations

from typing import Any

SERVER_FAULT = 0
BAD_CREDENTIALS = 1
NO_SUCH_OBJECT = 2
IS_ALIAS = 3
PERMISSION_DENIED = 4
MALFORMED = 5
BAD_ATTRIBUTE = 6
ALREADY_EXISTS = 7

ERROR_TEXTS: dict[int, str] = {
    SERVER_FAULT: "Internal server error",
    BAD_CREDENTIALS: "Invalid credentials supplied in request",
    NO_SUCH_OBJECT: "The requested object does not exist",
    IS_ALIAS: "The requested object is an alias; changes must use its real name",
    PERMISSION_DENIED: "Permission denied for one or more requested changes",
    MALFORMED: "Malformed request: a field is missing or has the wrong type",
    BAD_ATTRIBUTE: "Invalid attribute name or value",
    ALREADY_EXISTS: "An object with that name already exists",
}


class OmaError(Exception):
    """An OMA failure reply: `success: false` with `error_number`, `error` and optional extras.

    `extra` carries keys OMA sends beside the error, e.g. `settable_attributes` and `metadata`
    on get_user for a mailbox the requester could create (upstream-facts §3).
    """

    def __init__(self, number: int, detail: str = "", extra: dict[str, Any] | None = None):
        super().__init__(number, detail)
        self.number = number
        self.detail = detail
        self.extra = extra or {}

    def reply(self) -> dict[str, Any]:
        text = ERROR_TEXTS[self.number]
        # Error 1 keeps its exact documented text: clients (RB) match on it.
        if self.detail and self.number != BAD_CREDENTIALS:
            text = f"{text}: {self.detail}"
        return {"success": False, "error_number": self.number, "error": text, **self.extra}
