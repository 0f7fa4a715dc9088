"""The command line, mirroring the Python API: ``meetsep transcribe | batch | separate | evaluate |
simulate | report | models``."""

from meetsep.cli.commands import cli, main

__all__ = ["cli", "main"]
