"""Compute: virtual machine instances (system VMs here; user VMs and offerings follow)."""
