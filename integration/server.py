"""The launcher lives in the harness now (`marvin.sandbox`); tests keep importing it from here."""

from marvin.sandbox import RunningServer, drop_database, free_port, fresh_database, launch

__all__ = ["RunningServer", "drop_database", "free_port", "fresh_database", "launch"]
