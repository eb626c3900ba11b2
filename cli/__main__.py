"""``python -m cli``: the same as the ``dropout-risk`` command."""

from cli.main import main

main()
