"""Who is calling: the authentication seam and its parts.

`presented` reads what a request offers, `keys` matches API keys by digest, `tokens` issues and
finds callers' own session tokens, `seam.Authentication` asks each authenticator in order and
gives one identity or the one `Unauthenticated`.
"""

from .keys import Identity, Keyring
from .presented import Presented
from .seam import Authentication
from .tokens import CallerSessions

__all__ = ["Authentication", "CallerSessions", "Identity", "Keyring", "Presented"]
