"""Usage: the events a usage server aggregates into billable records."""
