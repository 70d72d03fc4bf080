"""Model monitoring: reference profiles shipped with each artifact, the record of what was served, drift monitors."""
