"""Population services: runs (export, download), data (merge, chunks), scoring (chunks through the pipeline)."""
