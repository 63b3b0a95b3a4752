"""What every layer shares: settings, events, views, the data-lake layout, Kafka access."""
