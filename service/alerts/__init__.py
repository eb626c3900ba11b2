"""Alerts that ask a clinician for a response: when they are raised, and what helps."""
