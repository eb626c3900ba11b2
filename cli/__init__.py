"""The ``dropout-risk`` command line: a thin layer over features, training and service."""
