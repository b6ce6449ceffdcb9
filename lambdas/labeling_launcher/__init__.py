"""The labeling launcher Lambda: batches uploaded data objects into Ground Truth labeling jobs."""
