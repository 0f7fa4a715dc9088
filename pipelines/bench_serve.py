"""``meetsep serve`` measured from outside: real clients over loopback, several at once, and a long stream.

Starts ``meetsep serve`` (the CLI, in its own process, on a free port), then:

* ``--streams 1,2,4``: for each count K, K clients connect at once and each streams a recording of the
  corpus (``--sessions``, cycled) in real time: 0.5 s chunks, chunk k sent at k × 0.5 s after the client's
  start (an absolute schedule, so slow replies do not slow the sender). A final word's latency is the
  moment its event reached the client minus the moment the word's audio ended (both on the client's
  clock, so it includes the server's queue, the work and the network); ``behind`` is how long after its
  last chunk a client waited for the ``end`` event. A first 10 s stream warms the server up and is not
  counted. Printed per K: words, latency p50 / p95, the worst
  ``behind``, errors, and the server's resident memory at most while the K streams ran.
* ``--minutes M``: one client streams M minutes (the sessions played one after another, again and again)
  as fast as the server takes them (``--speed``, at most the server's ``--max-speed``), and the server's
  resident memory is read every ``--every`` / ``--speed`` seconds of wall time (``--every`` seconds of audio
  when the server keeps up with ``--speed``): memory over a long stream, without waiting an hour for an
  hour of audio.

    python pipelines/bench_serve.py --corpus real --sessions heldout_real_call_00,heldout_real_call_01 \\
        --streams 1,2,3,4
    python pipelines/bench_serve.py --corpus real --sessions heldout_real_call_00 --minutes 60 --streams ""
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import soundfile as sf

CHUNK = 0.5  # s of audio per message, as a live source would send it


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def resident_mb(pid: int) -> float:
    """A process's resident memory now, in MB (0 once it has gone)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    found = re.search(r"VmRSS:\s+(\d+) kB", status)
    return int(found.group(1)) / 1024 if found else 0.0


def start_server(port: int, overrides: list[str], max_speed: float) -> subprocess.Popen:
    """``meetsep serve`` in its own process; returns once it accepts connections."""
    command = [sys.executable, "-m", "meetsep.cli", "serve", "--port", str(port), "--max-speed", str(max_speed)]
    command += [item for override in overrides for item in ("--set", override)]
    server = subprocess.Popen(command, env=dict(os.environ, PYTHONUNBUFFERED="1"))
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"meetsep serve exited with code {server.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return server
        except OSError:
            time.sleep(0.5)
    server.kill()
    raise SystemExit("meetsep serve did not start within 300 s")


async def watch_memory(
    pid: int, interval: float, readings: list[tuple[float, float]], done: asyncio.Event, echo: bool = False
) -> None:
    """Append ``(seconds since the start, resident MB of pid)`` every ``interval`` seconds until ``done``."""
    began = time.monotonic()
    while not done.is_set():
        readings.append((time.monotonic() - began, resident_mb(pid)))
        if echo:
            print(f"  {readings[-1][0]:7.0f} s  server {readings[-1][1]:6.0f} MB", file=sys.stderr, flush=True)
        await asyncio.sleep(interval)


async def stream(url: str, audio: np.ndarray, rate: int, name: str, speed: float = 1.0) -> dict:
    """Stream ``audio`` (``(samples, channels)`` int16) to the server at ``speed`` times real time."""
    import aiohttp

    latencies: list[float] = []
    errors: list[str] = []
    size = int(CHUNK * rate)
    duration = len(audio) / rate
    result: dict = {}
    async with aiohttp.ClientSession() as client, client.ws_connect(url, max_msg_size=0) as connection:
        start = {"type": "start", "sample_rate": rate, "channels": audio.shape[1], "encoding": "s16le"}
        await connection.send_str(json.dumps(dict(start, session_id=name)))
        began = time.monotonic()

        async def send() -> None:
            for index, first in enumerate(range(0, len(audio), size)):
                # chunk k leaves at k x CHUNK / speed seconds: a live source's pace at speed 1
                await asyncio.sleep(max(0.0, began + index * CHUNK / speed - time.monotonic()))
                await connection.send_bytes(np.ascontiguousarray(audio[first : first + size]).tobytes())
            result["sent"] = time.monotonic()
            await connection.send_str(json.dumps({"type": "end"}))

        sender = asyncio.create_task(send())
        async for message in connection:
            event = json.loads(message.data)
            now = time.monotonic() - began
            if event["type"] == "final":
                latencies += [now - word["end"] for word in event["words"]]
            elif event["type"] == "error":
                errors.append(event["message"])
            elif event["type"] == "end":
                result["ended"] = time.monotonic()
                break
        await sender
    behind = result["ended"] - max(result["sent"], began + duration / speed) if "ended" in result else None
    return dict(name=name, seconds=duration, latencies=latencies, errors=errors, behind=behind)


def load(folder: Path) -> tuple[np.ndarray, int]:
    audio, rate = sf.read(folder / "mix.flac", dtype="int16", always_2d=True)
    return audio, rate


async def concurrent(url: str, recordings: list[tuple[str, np.ndarray, int]], count: int, pid: int) -> dict:
    """``count`` clients at once in real time; the server's memory sampled every second meanwhile."""
    readings: list[tuple[float, float]] = []
    done = asyncio.Event()
    sampler = asyncio.create_task(watch_memory(pid, 1.0, readings, done))
    chosen = [recordings[index % len(recordings)] for index in range(count)]
    results = await asyncio.gather(
        *(stream(url, audio, rate, f"{name}#{index}") for index, (name, audio, rate) in enumerate(chosen))
    )
    done.set()
    await sampler
    every = [latency for result in results for latency in result["latencies"]]
    behind = [result["behind"] for result in results]
    return dict(
        streams=count,
        sessions=[result["name"] for result in results],
        audio_seconds=round(sum(result["seconds"] for result in results), 1),
        words=len(every),
        latency_p50=round(float(np.percentile(every, 50)), 2) if every else None,
        latency_p95=round(float(np.percentile(every, 95)), 2) if every else None,
        worst_behind=None if None in behind else round(max(behind), 2),
        errors=[error for result in results for error in result["errors"]],
        server_peak_mb=round(max(mb for _, mb in readings)),
    )


async def long_stream(
    url: str, recordings: list[tuple[str, np.ndarray, int]], minutes: float, speed: float, every: float, pid: int
) -> dict:
    """One client streams ``minutes`` of the recordings, played one after another, at ``speed`` x real time."""
    rates = {rate for _, _, rate in recordings}
    channels = {audio.shape[1] for _, audio, _ in recordings}
    if len(rates) != 1 or len(channels) != 1:
        raise SystemExit("--minutes needs recordings of one sample rate and channel count")
    rate = rates.pop()
    wanted = int(minutes * 60 * rate)
    pieces, total = [], 0
    while total < wanted:
        for _, audio, _ in recordings:
            pieces.append(audio[: wanted - total])
            total += len(pieces[-1])
            if total >= wanted:
                break
    audio = np.concatenate(pieces)
    readings: list[tuple[float, float]] = []  # (client seconds, server MB)
    done = asyncio.Event()
    began = time.monotonic()
    sampler = asyncio.create_task(watch_memory(pid, every / speed, readings, done, echo=True))
    result = await stream(url, audio, rate, "long", speed)
    done.set()
    await sampler
    values = np.array([mb for _, mb in readings if mb > 0])
    tenth = max(1, len(values) // 10)
    return dict(
        audio_minutes=round(len(audio) / rate / 60, 1),
        wall_minutes=round((time.monotonic() - began) / 60, 1),
        words=len(result["latencies"]),
        errors=result["errors"],
        server_mb_first_tenth=round(float(values[:tenth].max())),
        server_mb_last_tenth=round(float(values[-tenth:].max())),
        server_mb_max=round(float(values.max())),
        server_mb_by_tenth=[round(float(part.max())) for part in np.array_split(values, 10) if len(part)],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus-dir", type=Path, default=Path("build/corpus"))
    parser.add_argument("--corpus", default="real")
    parser.add_argument("--sessions", required=True, help="Comma-separated session ids (cycled over the clients).")
    parser.add_argument("--streams", default="1,2,4", help="Comma-separated counts of clients at once ('' for none).")
    parser.add_argument("--minutes", type=float, default=0.0, help="Minutes of one long stream (0: none).")
    parser.add_argument("--speed", type=float, default=4.0, help="Long stream: times real time at most.")
    parser.add_argument(
        "--every", type=float, default=30.0, help="Long stream: seconds of audio at --speed between readings."
    )
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="Config override for the server.")
    parser.add_argument("--out", type=Path, default=None, help="Write the rows as JSON here.")
    args = parser.parse_args()
    recordings = [
        (name, *load(args.corpus_dir / args.corpus / name)) for name in filter(None, args.sessions.split(","))
    ]
    port = free_port()
    server = start_server(port, args.overrides, max(4.0, args.speed))
    url = f"ws://127.0.0.1:{port}/v1/live"
    rows = []
    try:
        # a first short stream, not counted: the server loads its models and warms up on its first session
        name, audio, rate = recordings[0]
        asyncio.run(concurrent(url, [(name, audio[: 10 * rate], rate)], 1, server.pid))
        for count in [int(text) for text in args.streams.split(",") if text.strip()]:
            rows.append(asyncio.run(concurrent(url, recordings, count, server.pid)))
            print(json.dumps(rows[-1]), flush=True)
        if args.minutes > 0:
            rows.append(asyncio.run(long_stream(url, recordings, args.minutes, args.speed, args.every, server.pid)))
            print(json.dumps(rows[-1]), flush=True)
    finally:
        server.terminate()
        server.wait(timeout=30)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
