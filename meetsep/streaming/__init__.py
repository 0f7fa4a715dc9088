"""Live transcription: words with speakers while people talk (:class:`LiveSession`), and the WebSocket server."""

from __future__ import annotations

from meetsep.streaming.session import LiveSession

__all__ = ["LiveSession"]
