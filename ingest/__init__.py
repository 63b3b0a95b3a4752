"""The ingest API: validates events and writes them to Kafka, acknowledged by all replicas."""
