"""The speed layer: incremental views of every event the current batch version does not cover."""
