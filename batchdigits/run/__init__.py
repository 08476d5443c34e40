"""A run over a folder: walking, workers, batches, the CSV, incremental state and locks."""
