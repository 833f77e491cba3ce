"""The `marvin` command line (being written)."""
