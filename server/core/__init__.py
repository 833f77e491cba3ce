"""Mechanisms shared by every domain: registry, dispatch, auth, rendering, jobs, events, database."""
