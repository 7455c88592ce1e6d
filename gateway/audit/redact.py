"""Redaction of log lines and audit records, by the rules of `gateway.redaction`.

Two nets, because either alone leaks. By field name: any key that names a secret (`password`,
`token`, `credentials`, ... compared case-insensitively, also as a suffix such as `old_password`)
has its whole value replaced, at any depth. By value: every secret of the live set
(`gateway.redaction.SECRETS`), and their escaped spellings, cut out of every string, wherever it
hides (a URL, an exception text, a key name). What a secret is and where it hides is decided in
`gateway.redaction` alone; this module applies it to log events.

`REDACTOR.processor` is a structlog processor placed before the renderer for ALL events
(`gateway.logs`), stdlib logging's included.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, MutableMapping
from typing import Any

from ..redaction import REDACTED, SECRETS, Cleaner, SecretSet, SecretSource, is_secret_name

__all__ = ["ALREADY_REDACTED", "REDACTED", "REDACTOR", "Redactor", "is_secret_name"]

#: Event key by which the audit trail tells the log processor its record is already redacted.
ALREADY_REDACTED = "_already_redacted"


class Redactor:
    """Log-side redaction over a secret set (the process-wide one unless a test makes its own)."""

    def __init__(self, secrets: SecretSet | None = None) -> None:
        self.secret_set = secrets or SecretSet()

    def add_source(self, source: SecretSource) -> Callable[[], None]:
        return self.secret_set.add_source(source)

    def secrets(self, extra: Iterable[str] = ()) -> list[str]:
        return self.secret_set.values(extra)

    def redact(self, value: Any, extra: Iterable[str] = ()) -> Any:
        return self._cleaner(extra).value(value)

    def redact_fields(
        self, record: dict[str, Any], fields: Iterable[str], extra: Iterable[str] = ()
    ) -> dict[str, Any]:
        """Redact only `fields` of `record`, in place: the rest is the gateway's own words
        (config names, codes, numbers), which cannot hold a secret. Half the walk of a record."""
        cleaner = self._cleaner(extra)
        for name in fields:
            if name in record:
                record[name] = cleaner.value(record[name])
        return record

    def processor(
        self, logger: object, method: str, event: MutableMapping[str, Any]
    ) -> Mapping[str, Any]:
        """structlog processor: the whole event dict, keys and values, at any depth.

        An event that `redact` already cleaned (the audit record, marked by the audit trail
        itself) is not walked twice: it is the largest line of every call."""
        if event.pop(ALREADY_REDACTED, False) is True:
            return event
        return self._cleaner(()).mapping(event)

    def _cleaner(self, extra: Iterable[str]) -> Cleaner:
        return Cleaner(self.secrets(extra), for_logs=True)


#: The process-wide redactor that the log processor and the audit trail share.
REDACTOR = Redactor(SECRETS)
