"""Resource classes and helpers for tests (the spirit and the names of upstream Marvin's lib)."""
