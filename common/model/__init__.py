"""What the platform computes: events, views, their metric kinds, time buckets."""
