"""Kept for code written against meetsep 0.1: the output formats live in :mod:`meetsep.io.formats`."""

from meetsep.io.formats import WRITERS, parse_formats, to_json, write_transcript

__all__ = ["WRITERS", "parse_formats", "to_json", "write_transcript"]
