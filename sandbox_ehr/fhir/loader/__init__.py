"""Loading the sandbox's synthetic patients (Synthea R4 bundles, PhysioNet 2019 ICU stays)."""
