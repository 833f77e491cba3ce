"""System VMs (secondary storage VM, console proxy): created and started when a zone is enabled."""


def zone_enabled(ctx, zone) -> None:
    """Start the zone's system VMs (written with the system VM commands)."""
