"""``python -m meetsep.cli``: the same as the ``meetsep`` command."""

from meetsep.cli.commands import main

main()
