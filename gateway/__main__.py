"""`python -m gateway` is `oma-gateway`."""

import sys

from .cli import main

sys.exit(main())
