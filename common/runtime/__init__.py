"""How a service runs: settings, logs, processes, Kafka, HTTP security, pages."""
