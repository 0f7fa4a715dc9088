"""Stream a WAV file to ``meetsep serve`` in real time and print the settled words as they come.

meetsep serve &                       # ws://127.0.0.1:8765/v1/live
python examples/live_client.py examples/meeting/mix.flac
"""

from __future__ import annotations

import asyncio
import json
import sys

import aiohttp
import numpy as np
import soundfile as sf

CHUNK_SECONDS = 0.5


async def stream(path: str, url: str = "ws://127.0.0.1:8765/v1/live") -> None:
    audio, rate = sf.read(path, dtype="int16", always_2d=True)  # (samples, channels)
    async with aiohttp.ClientSession() as client, client.ws_connect(url) as socket:
        start = {"type": "start", "sample_rate": rate, "channels": audio.shape[1], "encoding": "s16le"}
        await socket.send_str(json.dumps(start))

        async def send() -> None:
            size = int(CHUNK_SECONDS * rate)
            for first in range(0, len(audio), size):
                await socket.send_bytes(np.ascontiguousarray(audio[first : first + size]).tobytes())
                await asyncio.sleep(CHUNK_SECONDS)  # as fast as a person talks
            await socket.send_str(json.dumps({"type": "end"}))

        sender = asyncio.create_task(send())
        async for message in socket:
            event = json.loads(message.data)
            if event["type"] == "final":
                words = " ".join(word["text"] for word in event["words"])
                print(f"[{event['words'][0]['start']:7.1f}] {event['speaker']}: {words}", flush=True)
            elif event["type"] == "error":
                print(f"error: {event['message']}", file=sys.stderr)
            elif event["type"] == "end":
                print(f"{len(event['transcript']['turns'])} turns, speakers {event['transcript']['speakers']}")
        await sender


if __name__ == "__main__":
    asyncio.run(stream(*sys.argv[1:]))
