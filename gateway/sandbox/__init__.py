"""The bundled OMA sandbox: a stand-in for the OpenSRS Hosted Email API for local work and tests.

sandbox = Sandbox(clock=ManualClock())
app = create_sandbox_app(sandbox)   # POST /api/{method}, plus /_sandbox/* controls
sandbox.faults.http_500 = Fault(methods={"get_user"}, times=1)
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
