"""``meetsep live``: words with speakers while the audio arrives, from a file or standard input."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import numpy as np

from meetsep.cli.console import chosen_formats, output_options, say

CHUNK_SECONDS = 0.5  # audio handed to the session at a time
COLOURS = ("cyan", "yellow", "green", "magenta", "blue", "red")


@click.command()
@click.argument("source", metavar="INPUT|-")
@output_options
@click.option("--realtime", is_flag=True, help="Play a file at its own pace, as a live source would deliver it.")
@click.option(
    "--rate",
    type=click.IntRange(8000, 192000),
    default=16000,
    show_default=True,
    help="Standard input: samples per second.",
)
@click.option("--channels", type=click.IntRange(1, 64), default=1, show_default=True, help="Standard input: channels.")
@click.option(
    "--encoding",
    type=click.Choice(["s16le", "f32le"]),
    default="s16le",
    show_default=True,
    help="Standard input: raw samples, 16-bit integers or 32-bit floats, little-endian, channels interleaved.",
)
@click.option(
    "--final",
    type=click.Choice(["offline", "online"]),
    default="offline",
    show_default=True,
    help="The transcript written at the end: the whole recording once more through the pipeline, or the live words.",
)
@click.option(
    "--step", type=click.FloatRange(0.5, 10.0), default=2.0, show_default=True, help="Seconds between two decodes."
)
def live(
    source: str,
    out_dir: Path,
    formats: str,
    configs: tuple[str, ...],
    overrides: tuple[str, ...],
    realtime: bool,
    rate: int,
    channels: int,
    encoding: str,
    final: str,
    step: float,
) -> None:
    """Transcribe INPUT (a file, or - for raw audio on standard input: `arecord -f S16_LE -r 16000 | meetsep live -`)
    as it arrives: settled words with their speaker print as they come; OUT/<name>.<ext> at the end."""
    from meetsep.core.presets import load_config
    from meetsep.io.files import check_writable_folder
    from meetsep.outputs import write_outputs
    from meetsep.pipeline import Pipeline
    from meetsep.streaming import LiveSession

    chosen = chosen_formats(formats)
    check_writable_folder(out_dir)
    if source == "-":
        name, blocks = "live", _stdin_blocks(rate, channels, encoding)
    else:
        name, (blocks, rate, channels) = Path(source).stem, _file_blocks(Path(source), realtime)
    pipeline = Pipeline(load_config(list(configs), list(overrides)))
    session = LiveSession(pipeline, sample_rate=rate, channels=channels, final=final, step=step, session_id=name)  # type: ignore[arg-type]
    colours: dict[str, str] = {}
    for block in blocks:
        for event in session.feed(block):
            _show(event, colours)
    events, transcript = session.finish()
    for event in events:
        _show(event, colours)
    written = write_outputs(transcript, out_dir, chosen, audio_path=Path(source) if source != "-" else None)
    say(f"{name}: {len(transcript.turns)} turns, {len(transcript.speakers)} speakers -> {', '.join(map(str, written))}")


def _show(event: Any, colours: dict[str, str]) -> None:
    """A final's words on one line, ``[start] SPEAKER: words``; coloured by speaker on a terminal."""
    if event.type != "final" or not event.words:
        return
    speaker = event.speaker or "?"
    colour = colours.setdefault(speaker, COLOURS[len(colours) % len(COLOURS)])
    first = event.words[0].start
    label = click.style(speaker, fg=colour) if sys.stdout.isatty() else speaker
    overlap = " (overlap)" if any(w.overlap for w in event.words) else ""
    say(f"[{int(first // 60):02d}:{first % 60:04.1f}] {label}{overlap}: {' '.join(w.text for w in event.words)}")


def _stdin_blocks(rate: int, channels: int, encoding: str) -> Iterator[np.ndarray]:
    """Raw interleaved samples from standard input, ``(channels, samples)`` float32 blocks."""
    dtype = np.dtype("<i2") if encoding == "s16le" else np.dtype("<f4")
    frame = dtype.itemsize * channels
    size = int(CHUNK_SECONDS * rate) * frame
    left = b""
    while True:
        data = sys.stdin.buffer.read(size)
        if not data:
            break
        data = left + data
        whole = len(data) - len(data) % frame
        data, left = data[:whole], data[whole:]
        samples = np.frombuffer(data, dtype=dtype).astype(np.float32)
        if encoding == "s16le":
            samples /= 32768.0
        yield samples.reshape(-1, channels).T


def _file_blocks(path: Path, realtime: bool) -> tuple[Iterator[np.ndarray], int, int]:
    """A file's ``(channels, samples)`` blocks (checked as any input), at its own pace when ``realtime``."""
    from meetsep.io.audio import iter_blocks, load_recording

    recording = load_recording(path)  # auto layout: the session gets every channel the file has
    rate = recording.sample_rate

    def blocks() -> Iterator[np.ndarray]:
        started, sent = time.monotonic(), 0
        for block in iter_blocks(recording, CHUNK_SECONDS):
            if realtime:  # wait until the block would have been spoken
                time.sleep(max(0.0, started + (sent + block.shape[1]) / rate - time.monotonic()))
            sent += block.shape[1]
            yield block

    return blocks(), rate, recording.num_channels


@click.command()
@click.option(
    "--host", default="127.0.0.1", show_default=True, help="Address to listen on (only this machine by default)."
)
@click.option("--port", type=click.IntRange(1, 65535), default=8765, show_default=True)
@click.option("--max-sessions", type=click.IntRange(min=1), default=4, show_default=True, help="Connections at once.")
@click.option(
    "--max-speed",
    type=click.FloatRange(min=1.0),
    default=4.0,
    show_default=True,
    help="Audio per second of connection, in seconds.",
)
@click.option("--config", "configs", multiple=True, help="YAML config file or preset name.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a config value.")
def serve(
    host: str, port: int, max_sessions: int, max_speed: float, configs: tuple[str, ...], overrides: tuple[str, ...]
) -> None:
    """Live transcription over WebSocket at ws://HOST:PORT/v1/live (protocol: meetsep/streaming/server.py)."""
    from meetsep.core.presets import load_config
    from meetsep.pipeline import Pipeline
    from meetsep.streaming.server import LiveServer, ServerLimits

    server = LiveServer(
        Pipeline(load_config(list(configs), list(overrides))),
        ServerLimits(max_sessions=max_sessions, max_speed=max_speed),
    )
    say(f"meetsep: live transcription on ws://{host}:{port}/v1/live (Ctrl-C stops)", err=True)
    server.run(host, port)
