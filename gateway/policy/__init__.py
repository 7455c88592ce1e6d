"""What a caller may do: which methods (`methods`), which objects (`targets`, `scope`), with which
parameters (`params`), compiled once per caller into one `CallerPolicy` (`caller`).

The request path asks a caller's policy once per call; adding a rule means adding it to the
policy, not another per-caller dict beside it.
"""

from .methods import Allowlist, check_method_name, is_never_forwarded, method_from_path

__all__ = ["Allowlist", "check_method_name", "is_never_forwarded", "method_from_path"]
