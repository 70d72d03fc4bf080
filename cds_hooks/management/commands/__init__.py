"""cds_client: manage trusted CDS clients."""
