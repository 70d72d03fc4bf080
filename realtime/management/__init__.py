"""Management commands of the real-time door."""
