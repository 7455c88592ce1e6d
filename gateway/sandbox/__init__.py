"""The bundled OMA sandbox: a stand-in for the OpenSRS Hosted Email API for local work and tests.

sandbox = Sandbox(clock=ManualClock())
app = create_sandbox_app(sandbox)   # POST /api/{method}, plus /_sandbox/* controls
sandbox.faults.http_500 = Fault(methods={"get_user"}, times=1)
Sandbox(role="company_token_only")  # the configured login's OMA role (default `company`)

It models OMA's eight admin roles (roles.py: the method gate and every guess; access.py: the
object checks; seed.py: a login per role and a second company) and serves the download links
of stats_snapshot and migration_trace for 15 minutes (files.py).
"""

from gateway.sandbox.app import create_sandbox_app
from gateway.sandbox.clock import Clock, ManualClock
from gateway.sandbox.faults import Fault, Faults
from gateway.sandbox.sandbox import RecordedRequest, Sandbox
from gateway.sandbox.server import serving

__all__ = [
    "Clock",
    "Fault",
    "Faults",
    "ManualClock",
    "RecordedRequest",
    "Sandbox",
    "create_sandbox_app",
    "serving",
]
