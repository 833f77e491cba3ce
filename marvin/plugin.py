"""pytest plugin for Marvin-style tests (being written)."""
