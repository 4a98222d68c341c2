"""A small, real pytest suite the demo runs with the ctas7 telemetry plugin."""
