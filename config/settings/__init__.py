"""Settings package: base (embedded default), test and production."""
