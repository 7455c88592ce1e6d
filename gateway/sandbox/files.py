"""The files behind `stats_snapshot` and `migration_trace` links, and the GET that serves them.

OMA answers both methods with a URL on its own admin host,
`/api/oma_file/get?...&user=<requester>&token=<hex>`, valid for 15 minutes (upstream-facts
§6, §9.2). The sandbox mints one download token per answer, bound to the requester and the file,
and serves the file at that URL on its own origin (so a test can fetch it) until it expires.

Guesses: whether OMA's `token=` is the requester's session token or a per-file one is not
documented; the sandbox uses a per-file token, so the URL never shows the session token. Within
its 15 minutes a link can be fetched any number of times. A wrong or expired token, or a `user`
that is not the file's requester, gets HTTP 403 with OMA's error 1 envelope; what OMA answers
there is unknown, and a non-2xx status keeps such an answer from passing for the file.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from urllib.parse import urlencode

from gateway.sandbox.clock import Clock

DOWNLOAD_SECONDS = 900
DOWNLOAD_PATH = "/api/oma_file/get"
# Like TokenStore: expired links are swept whenever the store doubles, so it stays bounded.
_FIRST_SWEEP = 1024


@dataclass(frozen=True, slots=True)
class Download:
    token: str
    user: str  # the requester the link was made for
    filename: str
    content: bytes
    content_type: str
    expires_at: float


class DownloadStore:
    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._files: dict[str, Download] = {}
        self._sweep_at = _FIRST_SWEEP

    def __len__(self) -> int:
        return len(self._files)

    def issue(self, user: str, filename: str, content: bytes, content_type: str) -> Download:
        token = secrets.token_hex(16)
        expires_at = self._clock() + DOWNLOAD_SECONDS
        download = Download(token, user, filename, content, content_type, expires_at)
        self._files[token] = download
        if len(self._files) >= self._sweep_at:
            self._sweep()
        return download

    def fetch(self, user: str, token: str) -> Download | None:
        """The file behind a live link, when `user` is the requester it was made for."""
        download = self._files.get(token)
        if download is None or not hmac.compare_digest(download.user.encode(), user.encode()):
            return None
        if self._clock() >= download.expires_at:
            del self._files[token]
            return None
        return download

    def _sweep(self) -> None:
        now = self._clock()
        self._files = {k: d for k, d in self._files.items() if d.expires_at > now}
        self._sweep_at = max(_FIRST_SWEEP, 2 * len(self._files))


def download_url(base: str, download: Download, query: dict[str, str]) -> str:
    """`query` names the file (type, object, date...); `user` and `token` come last, as in OMA."""
    params = urlencode({**query, "user": download.user, "token": download.token})
    return f"{base}{DOWNLOAD_PATH}?{params}"
