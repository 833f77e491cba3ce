"""Marvin-style harness for CloudStack-compatible clouds: API client, configs, deployer, pytest plugin."""

__version__ = "0.1.0"
