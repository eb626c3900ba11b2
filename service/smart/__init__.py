"""SMART App Launch 2 (EHR launch): a record system opens the clinician pages in a session."""
