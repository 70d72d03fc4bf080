"""SMART App Launch 2.x client and the clinician sidebar."""
