"""Monitoring: the emitting side (beacons, Prometheus samples and their keys, metrics ports),
the one table of stages, and the observing side (the observer and the ``/status`` computation
with its warnings), which the serving layer starts and serves."""
