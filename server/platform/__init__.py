"""Platform domain: global settings catalogue and platform-wide commands."""
