"""The batch layer: the archiver that keeps the master dataset, and the Spark recompute."""
