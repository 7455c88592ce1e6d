"""oma-gateway: an authenticating gateway in front of the OpenSRS Hosted Email API (OMA)."""

__version__ = "0.1.0"
