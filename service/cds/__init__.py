"""CDS Hooks 2.0: the ``patient-view`` service that shows record systems a risk card.

Kept free of imports so that :mod:`service.settings` can read :mod:`service.cds.issuers`
without pulling in the rest (which itself reads the settings).
"""
