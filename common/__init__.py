"""What every layer shares: settings, events, view definitions, the data-lake layout, Kafka access."""
