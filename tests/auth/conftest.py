"""The recording upstream of the policy tests serves these too, and the plain Redis client of
the store tests looks at what a caller's token left in Redis."""

from ..policy.conftest import recorder
from ..store.conftest import raw_redis

__all__ = ["raw_redis", "recorder"]
