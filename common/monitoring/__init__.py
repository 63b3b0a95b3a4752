"""The emitting side of monitoring: beacons, Prometheus samples, metrics ports."""
