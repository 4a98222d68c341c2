"""Schema audit, pytest plugin and test telemetry."""
