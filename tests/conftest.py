"""Shared fixtures: speech made on the fly with Debian's flite voices (no network, no fixtures)."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from meetsep.io.audio import resample

RATE = 16000


@pytest.fixture(scope="session")
def tts(tmp_path_factory: pytest.TempPathFactory):
    """``tts(text, voice)`` → ``(samples,)`` float32 at 16 kHz, leading/trailing silence trimmed."""
    folder = tmp_path_factory.mktemp("tts")
    cache: dict[tuple[str, str], np.ndarray] = {}

    def synthesize(text: str, voice: str = "slt") -> np.ndarray:
        key = (text, voice)
        if key not in cache:
            path = folder / f"{len(cache)}.wav"
            subprocess.run(["flite", "-voice", voice, "-t", text, "-o", str(path)], check=True)
            audio, rate = sf.read(str(path), dtype="float32")
            audio = resample(audio, rate, RATE)
            loud = np.flatnonzero(np.abs(audio) > 0.01)
            cache[key] = audio[loud[0] : loud[-1] + 1] * (0.5 / np.abs(audio).max())
        return cache[key]

    return synthesize


@dataclass
class Mix:
    audio: np.ndarray  # (samples,)
    reference: list[dict]  # SegLST entries
    path: Path


SCRIPT = [
    ("awb", "Good morning everyone, thanks for joining the planning meeting today."),
    ("slt", "Thank you. I would like to start with the schedule for the new product."),
    ("awb", "That sounds good. The design team finished the first version last week."),
    ("slt", "Great news. Then we can move the testing phase forward by a few days."),
]


@pytest.fixture(scope="session")
def two_speaker_mix(tts, tmp_path_factory: pytest.TempPathFactory) -> Mix:
    """About 20 s of a mono 16 kHz two-speaker conversation; turn 2 overlaps turn 1 by 1 s."""
    pieces = [(voice, text, tts(text, voice)) for voice, text in SCRIPT]
    starts, cursor = [], 0.5
    for index, (_, _, audio) in enumerate(pieces):
        starts.append(cursor)
        cursor += len(audio) / RATE + (-1.0 if index == 0 else 0.6)
    total = int((max(s + len(a) / RATE for s, (_, _, a) in zip(starts, pieces)) + 0.5) * RATE)
    mix = np.zeros(total, dtype=np.float32)
    reference = []
    for start, (voice, text, audio) in zip(starts, pieces):
        offset = int(start * RATE)
        mix[offset : offset + len(audio)] += audio
        reference.append(
            dict(
                session_id="mix",
                speaker=voice,
                start_time=round(start, 3),
                end_time=round(start + len(audio) / RATE, 3),
                words=text,
            )
        )
    path = tmp_path_factory.mktemp("mix") / "mix.wav"
    sf.write(str(path), mix, RATE, subtype="PCM_16")
    return Mix(mix, reference, path)


CALL = [
    ("agent", "awb", "Thank you for calling, how can I help you today?"),
    ("customer", "slt", "Hello, my card stopped working yesterday."),
    ("agent", "awb", "I can send a new card this week."),
    ("customer", "slt", "That would be perfect, thank you."),
]


@pytest.fixture(scope="session")
def call_center(tts, tmp_path_factory: pytest.TempPathFactory) -> Mix:
    """8 kHz stereo call: agent left, customer right, each leaking into the other at -25 dB."""
    cursor, placed, reference = 0.3, [], []
    for speaker, voice, text in CALL:
        audio = tts(text, voice)
        placed.append((0 if speaker == "agent" else 1, cursor, audio))
        reference.append(
            dict(
                session_id="call",
                speaker=speaker,
                start_time=round(cursor, 3),
                end_time=round(cursor + len(audio) / RATE, 3),
                words=text,
            )
        )
        cursor += len(audio) / RATE + 0.5
    channels = np.zeros((2, int((cursor + 0.5) * RATE)), dtype=np.float32)
    for row, start, audio in placed:
        channels[row, int(start * RATE) : int(start * RATE) + len(audio)] += audio
    leak = 10 ** (-25 / 20)
    stereo = resample(np.stack([channels[0] + leak * channels[1], channels[1] + leak * channels[0]]), RATE, 8000)
    path = tmp_path_factory.mktemp("call") / "call.wav"
    sf.write(str(path), stereo.T, 8000, subtype="PCM_16")
    return Mix(stereo, reference, path)


@pytest.fixture(scope="module")
def meeting():
    """Two flite talkers (seed 4), 40 % overlap, 4-mic circular array, RT60 0.3 s, SNR 30 dB."""
    from meetsep.sim.simulate import SimulationConfig, simulate_meeting

    return simulate_meeting(
        SimulationConfig(seed=4, num_speakers=2, num_sentences=4, overlap_ratio=0.4, num_mics=4, snr_db=30)
    )


@pytest.fixture(scope="module")
def meeting_diarization(meeting):
    """The true diarization of ``meeting`` (its reference segments and where they overlap)."""
    from meetsep.core.intervals import overlapping_parts
    from meetsep.core.records import Diarization
    from meetsep.schema import SpeakerSegment

    segments = [
        SpeakerSegment(speaker=e["speaker"], start=e["start_time"], end=e["end_time"]) for e in meeting.reference
    ]
    return Diarization(segments, [], overlapping_parts(segments))


@pytest.fixture
def cli_state():
    """``meetsep.cli.commands.main`` in this process configures logging and warnings: put them back after."""
    import logging
    import warnings

    root = logging.getLogger()
    saved = (root.handlers[:], root.level, warnings.showwarning, warnings.filters[:])
    yield
    root.handlers[:], level, warnings.showwarning, warnings.filters[:] = saved
    root.setLevel(level)


class StubPipeline:
    """A pipeline that returns a small transcript of one speaker at once and counts its calls: for tests
    of what is written where (batch items, output routes), not of what is heard."""

    def __init__(self, config) -> None:
        self.config = config
        self.calls = 0
        self.given: list[Path] = []  # the diarization files it was given

    def __call__(self, path: Path, hook: object = None, diarization: Path | None = None):
        from meetsep.schema import ChannelLayout, SpeakerSegment, Transcript, Turn, Word

        self.calls += 1
        if diarization is not None:
            self.given.append(diarization)
        words = [
            Word(text=t, start=s, end=s + 0.3, speaker="agent", probability=0.9)
            for t, s in (("hello", 0.1), ("there", 0.5))
        ]
        return Transcript(
            session_id=Path(path).stem,
            duration=2.0,
            layout=ChannelLayout.MONO,
            language="en",
            speakers=["agent"],
            turns=[Turn(speaker="agent", start=0.1, end=0.8, text="hello there", overlap=False, words=words)],
            diarization=[SpeakerSegment(speaker="agent", start=0.0, end=1.0)],
            overlaps=[],
            meetsep_version="0",
            config_hash="x",
        )


@pytest.fixture
def stub_pipelines():
    r""":class:`meetsep.batch.run.Pipelines` that build :class:`StubPipeline`\ s."""
    from meetsep.batch.run import Pipelines

    return Pipelines(factory=StubPipeline)
