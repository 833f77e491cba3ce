"""Storage: primary storage pools, image stores, templates and ISOs (volumes and snapshots follow)."""
