"""``meetsep serve`` over loopback: a real client streams, bad clients get one error event or are dropped,
and the other sessions go on."""

from __future__ import annotations

import asyncio
import gc
import json
import socket
import threading

import numpy as np
import pytest

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def pipeline():
    import meetsep

    return meetsep.Pipeline(meetsep.load_config([], ["asr.model=tiny.en"]))


@pytest.fixture(scope="module")
def server(pipeline):
    yield from _serve(pipeline, max_sessions=3, max_message_bytes=64_000, max_speed=50.0, max_seconds=60.0)


@pytest.fixture(scope="module")
def slow_server(pipeline):
    yield from _serve(pipeline, max_speed=1.0)


def _serve(pipeline, **limits):  # noqa: ANN001, ANN003
    """A server on a free loopback port, in a thread of its own (its own event loop)."""
    from aiohttp import web

    from meetsep.streaming.server import LiveServer, ServerLimits

    live = LiveServer(pipeline, ServerLimits(**limits))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(live.app())
    loop.run_until_complete(runner.setup())
    loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", port).start())
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield f"ws://127.0.0.1:{port}/v1/live"
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)
    # shut the server down as web.run_app does (connections closed, their handlers finished): left pending, its
    # handler tasks were collected during a later test, whose ast.parse then failed once on CPython 3.11.7 ("AST
    # constructor recursion depth mismatch", with the tasks' "Task was destroyed but it is pending!" in its log)
    loop.run_until_complete(runner.cleanup())
    loop.close()
    gc.collect()


async def _talk(url: str, messages: list, wait: bool = True) -> list[dict]:
    """Send ``messages`` (str as text, bytes as binary) and collect the server's events until it closes."""
    import aiohttp

    events = []
    async with aiohttp.ClientSession() as client, client.ws_connect(url) as ws:
        for message in messages:
            if ws.closed:
                break
            await (ws.send_str(message) if isinstance(message, str) else ws.send_bytes(message))
        if wait:
            async for reply in ws:
                if reply.type == aiohttp.WSMsgType.TEXT:
                    events.append(json.loads(reply.data))
    return events


def _audio_messages(audio: np.ndarray, rate: int = 16000) -> list[bytes]:
    pcm = (np.clip(audio, -1, 1) * 32767).astype("<i2")
    return [pcm[a : a + rate // 2].tobytes() for a in range(0, len(pcm), rate // 2)]


def test_a_client_streams_and_gets_words_and_the_transcript(server, two_speaker_mix):
    start = json.dumps({"type": "start", "sample_rate": 16000, "channels": 1, "session_id": "mix"})
    events = asyncio.run(_talk(server, [start, *_audio_messages(two_speaker_mix.audio), json.dumps({"type": "end"})]))
    kinds = [e["type"] for e in events]
    assert "final" in kinds and kinds[-1] == "end" and "error" not in kinds
    assert events[-1]["transcript"]["session_id"] == "mix" and events[-1]["transcript"]["turns"]


@pytest.mark.parametrize(
    "messages, problem",
    [
        (["hello"], "must be JSON"),
        (["[1, 2]"], "JSON object"),
        ([b"\x00\x01"], "audio before the start"),
        ([json.dumps({"type": "start", "sample_rate": 100})], "sample_rate"),
        ([json.dumps({"type": "start", "sample_rate": 16000, "encoding": "mp3"})], "encoding"),
        ([json.dumps({"type": "start", "sample_rate": 16000}), b"\x00\x01\x02"], "whole number"),
        ([json.dumps({"type": "start", "sample_rate": 16000}), json.dumps({"type": "dance"})], "unexpected message"),
        ([json.dumps({"type": "start", "sample_rate": 16000}), *[bytes(32000)] * 62], "more than 60 s"),
    ],
)
def test_bad_clients_get_one_error_event_and_are_closed(server, messages, problem):
    events = asyncio.run(_talk(server, messages))
    assert [e["type"] for e in events][-1:] == ["error"] and problem in events[-1]["message"]


def test_a_flood_is_refused(slow_server):
    """Audio sent much faster than it could have been spoken (here: over 1x real time after 10 s)."""
    start = json.dumps({"type": "start", "sample_rate": 16000})
    events = asyncio.run(_talk(slow_server, [start, *[bytes(32000)] * 40]))
    assert events[-1]["type"] == "error" and "faster than 1x real time" in events[-1]["message"]


def test_too_large_a_message_or_a_client_that_leaves_does_not_stop_the_others(server, two_speaker_mix):
    start = json.dumps({"type": "start", "sample_rate": 16000})
    asyncio.run(_talk(server, [start, bytes(100_000)]))  # over max_message_bytes: the connection is closed
    asyncio.run(_talk(server, [start, *_audio_messages(two_speaker_mix.audio[:48000])], wait=False))  # leaves

    async def three_at_once() -> list[list[dict]]:
        end = json.dumps({"type": "end"})
        piece = _audio_messages(two_speaker_mix.audio[:64000])
        return await asyncio.gather(*[_talk(server, [start, *piece, end]) for _ in range(3)])

    for events in asyncio.run(three_at_once()):
        assert events[-1]["type"] == "end"
