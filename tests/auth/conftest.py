"""The recording upstream of the policy tests serves these too."""

from ..policy.conftest import recorder

__all__ = ["recorder"]
