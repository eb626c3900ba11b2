"""Helpers shared by the tests and the benches: servers, registries, tokens, records, bundles.

Test modules and ``conftest.py`` files import from here, never from each other, from a
``conftest.py`` or from ``bench/``; ``bench/`` may import from here (``tests/test_layout.py``
checks both directions).
"""
