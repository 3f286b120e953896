"""What the bundle does, independent of Lambda: ingest, process, project."""
