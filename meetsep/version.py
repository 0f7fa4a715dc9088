"""meetsep's version (its own module: outputs record it, and nothing else need be imported for it)."""

__version__ = "0.1.0"
