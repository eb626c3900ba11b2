"""The clinician report: one HTML page per stored assessment, readable in ten seconds."""
