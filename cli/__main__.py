"""``python -m cli``: the ``encaisse`` command without its console script."""

from cli import main

main()
