"""The serving layer: merges a batch version with the speed snapshot built on it."""
