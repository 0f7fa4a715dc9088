"""``meetsep serve``: live transcription over WebSocket (aiohttp), one :class:`LiveSession` per connection.

Protocol (``ws://HOST:PORT/v1/live``; every server message is a :class:`meetsep.schema.LiveEvent` as JSON):

1. the client sends ``{"type": "start", "sample_rate": 16000, "channels": 1, "encoding": "s16le"}``
   (``encoding``: ``s16le`` or ``f32le``, little-endian, channels interleaved; optional ``session_id``,
   ``final``: ``online`` (the default here) or ``offline``);
2. then audio as binary messages, each a whole number of frames;
3. then ``{"type": "end"}``: the server sends the last events, ``end`` with the transcript, and closes.

What a client sends is checked: a message that is not JSON or not one of these, audio before ``start``,
a rate or channel count out of range, a broken frame, a message over ``max_message_bytes``, audio
arriving faster than ``max_speed`` times real time (after a ``BURST_SECONDS`` head start) or beyond
``max_seconds`` get one ``error`` event and the connection is closed; a client that goes away has its
session dropped. Other sessions go on: each connection has its own session, and the sessions' work runs
one at a time on a worker thread (the models are shared), so the event loop keeps serving.
"""

from __future__ import annotations

import asyncio
import json
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np

from meetsep.core.errors import MeetsepError
from meetsep.pipeline import Pipeline
from meetsep.schema import LiveEvent
from meetsep.streaming.session import LiveSession, warm_up

BURST_SECONDS = 10.0  # s of audio a client may send ahead of real time x max_speed
ENCODINGS = {"s16le": np.dtype("<i2"), "f32le": np.dtype("<f4")}


@dataclass(frozen=True)
class ServerLimits:
    """What one client may do: sessions at once, message size, audio speed and length."""

    max_sessions: int = 4
    max_message_bytes: int = 1 << 20
    max_speed: float = 4.0
    max_seconds: float = 4 * 3600.0


class ClientError(Exception):
    """What a client did wrong, in one line (sent as an ``error`` event)."""


class LiveServer:
    """The WebSocket application: :meth:`app` for aiohttp, :meth:`run` to serve until interrupted."""

    def __init__(self, pipeline: Pipeline, limits: ServerLimits | None = None) -> None:
        self.pipeline = pipeline
        self.limits = limits or ServerLimits()
        self.worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="meetsep-live")
        self.active = 0

    def app(self) -> Any:
        from aiohttp import web

        application = web.Application()
        application.router.add_get("/v1/live", self._connection)
        return application

    def run(self, host: str = "127.0.0.1", port: int = 8765) -> None:
        from aiohttp import web

        warm_up(self.pipeline)  # the first client's words do not wait for the models to load
        web.run_app(self.app(), host=host, port=port, print=None)

    async def _connection(self, request: Any) -> Any:
        from aiohttp import WSMsgType, web

        socket = web.WebSocketResponse(max_msg_size=self.limits.max_message_bytes)
        await socket.prepare(request)
        if self.active >= self.limits.max_sessions:
            await _send_error(socket, f"server busy: {self.limits.max_sessions} sessions at once")
            return socket
        self.active += 1
        session: LiveSession | None = None
        try:
            started, received, layout = time.monotonic(), 0.0, None
            async for message in socket:
                if message.type == WSMsgType.TEXT:
                    request_data = _json(message.data)
                    if request_data.get("type") == "start" and session is None:
                        layout = _start(request_data)
                        session = await self._run(
                            partial(
                                LiveSession,
                                self.pipeline,
                                sample_rate=layout["sample_rate"],
                                channels=layout["channels"],
                                final=layout["final"],
                                session_id=layout["session_id"],
                            )
                        )
                        started = time.monotonic()
                    elif request_data.get("type") == "end" and session is not None:
                        events, _ = await self._run(session.finish)
                        await _send(socket, events)
                        break
                    else:
                        raise ClientError(f"unexpected message {str(request_data.get('type'))[:40]!r}")
                elif message.type == WSMsgType.BINARY:
                    if session is None or layout is None:
                        raise ClientError("audio before the start message")
                    chunk = _samples(message.data, layout)
                    received += chunk.shape[1] / layout["sample_rate"]
                    if received > self.limits.max_seconds:
                        raise ClientError(f"more than {self.limits.max_seconds:g} s of audio")
                    allowed = BURST_SECONDS + self.limits.max_speed * (time.monotonic() - started)
                    if received > allowed:
                        raise ClientError(f"audio faster than {self.limits.max_speed:g}x real time")
                    await _send(socket, await self._run(partial(session.feed, chunk)))
                elif message.type == WSMsgType.ERROR:
                    raise ClientError(f"connection error: {socket.exception()}")
        except (ClientError, MeetsepError) as error:
            await _send_error(socket, str(error), session)
        finally:
            self.active -= 1
            if session is not None and not session.finished:
                await self._run(session.close)
            await socket.close()
        return socket

    async def _run(self, work: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self.worker, work)


def _json(text: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except ValueError:
        raise ClientError("a text message must be JSON") from None
    if not isinstance(data, dict):
        raise ClientError("a text message must be a JSON object")
    return data


def _start(data: dict[str, Any]) -> dict[str, Any]:
    """The stream's layout from a start message, checked."""
    rate, channels = data.get("sample_rate"), data.get("channels", 1)
    if not isinstance(rate, int) or not 8000 <= rate <= 192000:
        raise ClientError("sample_rate must be an integer from 8000 to 192000")
    if not isinstance(channels, int) or not 1 <= channels <= 64:
        raise ClientError("channels must be an integer from 1 to 64")
    encoding = data.get("encoding", "s16le")
    if encoding not in ENCODINGS:
        raise ClientError(f"encoding must be one of {', '.join(ENCODINGS)}")
    final = data.get("final", "online")
    if final not in ("online", "offline"):
        raise ClientError("final must be online or offline")
    session_id = str(data.get("session_id", "live"))[:100]
    return dict(sample_rate=rate, channels=channels, encoding=encoding, final=final, session_id=session_id)


def _samples(data: bytes, layout: dict[str, Any]) -> np.ndarray:
    """``(channels, samples)`` float32 from one binary message."""
    dtype = ENCODINGS[layout["encoding"]]
    frame = dtype.itemsize * layout["channels"]
    if len(data) % frame:
        raise ClientError(f"a binary message of {len(data)} bytes is not a whole number of {frame}-byte frames")
    samples = np.frombuffer(data, dtype=dtype).astype(np.float32)
    if layout["encoding"] == "s16le":
        samples /= 32768.0
    return samples.reshape(-1, layout["channels"]).T


async def _send(socket: Any, events: list[LiveEvent]) -> None:
    for event in events:
        await socket.send_str(event.model_dump_json())


async def _send_error(socket: Any, message: str, session: LiveSession | None = None) -> None:
    event = LiveEvent(
        type="error",
        audio_time=round(session.audio_time, 3) if session is not None and not session.finished else 0.0,
        emitted=0.0,
        message=" ".join(message.split())[:300],
    )
    try:
        if not socket.closed:
            await socket.send_str(event.model_dump_json())
    except (ConnectionError, RuntimeError):  # the client is gone already
        pass
