"""Sandstack: a compact CloudStack-compatible management server."""

__version__ = "0.1.0"
# The CloudStack release whose API this server speaks (reported by listCapabilities).
CLOUDSTACK_VERSION = "4.22.0.0"
