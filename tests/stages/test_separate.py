"""Separation: neural outputs go to the right speakers, joins are smooth, levels fit; separating a file."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

import meetsep.stages.separate as separate_module
from meetsep.core.config import AttributeConfig, RuntimeConfig, SeparateConfig
from meetsep.core.intervals import merge_segments
from meetsep.core.records import Diarization, MixtureSource, SeparationJob
from meetsep.schema import SpeakerSegment
from meetsep.stages.embedding import SpeakerEmbedder
from meetsep.stages.separate import NeuralSeparator, crossfade_into, fit_to_mixture

RATE = 16000


@dataclass
class OracleModel:
    """Stands in for a network: returns the true sources of the window it is given, in swapped order
    and at arbitrary gains (as an SI-SNR-trained network would), so that matching and scaling are tested."""

    sources: np.ndarray  # (2, samples) of the whole mixture
    mixture: np.ndarray
    num_sources: int = 2
    sample_rate: int = RATE

    def separate(self, window: np.ndarray, rate: int) -> np.ndarray:
        starts = [
            i
            for i in range(len(self.mixture) - len(window) + 1)
            if np.array_equal(self.mixture[i : i + len(window)], window)
        ]
        first = starts[0]
        part = self.sources[:, first : first + len(window)]
        return np.stack([part[1] * 3.0, part[0] * 0.2])


@pytest.fixture(scope="module")
def scene(tts):
    a = tts("Good morning everyone, thanks for joining the planning meeting today.", "awb")
    b = tts("Thank you. I would like to start with the schedule for the new product.", "slt")
    start_b = len(a) - int(1.5 * RATE) + int(0.5 * RATE)  # 1.5 s of overlap
    total = start_b + len(b) + int(0.5 * RATE)
    sources = np.zeros((2, total), dtype=np.float32)
    sources[0, int(0.5 * RATE) : int(0.5 * RATE) + len(a)] = a
    sources[1, start_b : start_b + len(b)] = b
    a_end, b_start = (int(0.5 * RATE) + len(a)) / RATE, start_b / RATE
    segments = [
        SpeakerSegment(speaker="A", start=0.5, end=a_end),
        SpeakerSegment(speaker="B", start=b_start, end=total / RATE - 0.5),
    ]
    exclusive = [
        SpeakerSegment(speaker="A", start=0.5, end=b_start),
        SpeakerSegment(speaker="B", start=b_start, end=total / RATE - 0.5),
    ]
    return sources, Diarization(segments, exclusive, [(b_start, a_end)])


@pytest.mark.integration
def test_separated_outputs_replace_the_overlap_in_the_right_speakers_stream(scene, monkeypatch):
    sources, diarization = scene
    mixture = sources.sum(axis=0)
    monkeypatch.setattr(separate_module, "resolve_model", lambda *args, **kwargs: None)
    monkeypatch.setattr(
        separate_module, "load_separation", lambda resolved, trust_model_code=False: OracleModel(sources, mixture)
    )
    embedder = SpeakerEmbedder(AttributeConfig(), RuntimeConfig())
    job = SeparationJob(None, MixtureSource(mixture), diarization, merge_segments(diarization.segments, 0.5))
    streams = NeuralSeparator(SeparateConfig(kind="convtasnet"), RuntimeConfig(), embedder)(job)
    by_speaker = {s.speaker: s for s in streams}
    assert sorted(by_speaker) == ["A", "B"] and all(s.name.startswith("sep-") for s in streams)
    start, end = diarization.overlap[0]
    for row, speaker in enumerate(["A", "B"]):
        stream = by_speaker[speaker]
        first = int((start - stream.offset) * RATE)
        inside = stream.audio[first : first + int((end - start) * RATE)]
        truth = sources[row, int(start * RATE) : int(start * RATE) + len(inside)]
        other = sources[1 - row, int(start * RATE) : int(start * RATE) + len(inside)]
        # the speaker's own source, at its own level (gains were undone by the least-squares fit)
        assert np.max(np.abs(inside - truth)) < 1e-3, speaker
        assert abs(np.corrcoef(inside, other)[0, 1]) < 0.2, speaker
        # outside the overlap the stream is the mixture itself
        before = stream.audio[: max(0, first - int(0.1 * RATE))]
        np.testing.assert_array_equal(
            before, mixture[int(stream.offset * RATE) : int(stream.offset * RATE) + len(before)]
        )


def test_fit_to_mixture_recovers_gains():
    rng = np.random.default_rng(0)
    sources = rng.standard_normal((2, 4000)).astype(np.float32)
    mixture = 0.5 * sources[0] + 2.0 * sources[1]
    fitted = fit_to_mixture(np.stack([sources[0] * 10, sources[1] * 0.1]), mixture)
    np.testing.assert_allclose(fitted, np.stack([0.5 * sources[0], 2.0 * sources[1]]), rtol=1e-4, atol=1e-5)


def test_crossfade_is_continuous_and_exact_inside():
    piece = np.ones(RATE * 2, dtype=np.float32)
    output = np.full(RATE * 2, 3.0, dtype=np.float32)
    crossfade_into(piece, 0, output, 0, 0.5, 1.0, 0.05, RATE)
    assert np.all(piece[int(0.5 * RATE) : int(1.0 * RATE)] == 3.0)
    assert piece[0] == 1.0 and piece[-1] == 1.0
    assert np.max(np.abs(np.diff(piece))) < 2.0 / (0.05 * RATE) * np.pi  # a ramp, not a step


class SwappingModel:
    """Returns the true sources of each window, in an order that flips from call to call."""

    num_sources, sample_rate = 2, 16000

    def __init__(self, sources: np.ndarray) -> None:
        self.sources, self.calls = sources, 0

    def separate(self, window: np.ndarray, rate: int) -> np.ndarray:
        mixture = self.sources.sum(axis=0)
        first = next(i for i in range(len(mixture)) if np.allclose(mixture[i : i + 64], window[:64], atol=1e-4))
        part = self.sources[:, first : first + len(window)]
        self.calls += 1
        return part[::-1] if self.calls % 2 else part


def test_separate_file_keeps_each_speaker_in_one_file_across_chunks(tmp_path):
    import soundfile as sf

    from meetsep.io.audio import load_recording
    from meetsep.stages.separate import separate_file

    rng = np.random.default_rng(1)
    sources = (rng.standard_normal((2, 16000 * 11)) * [[0.05], [0.1]]).astype(np.float32)
    sources = np.round(sources * 32767) / 32767  # what PCM_16 stores, so the stub finds its windows
    sf.write(str(tmp_path / "talk.wav"), sources.sum(axis=0), 16000, subtype="FLOAT")
    written = separate_file(
        load_recording(tmp_path / "talk.wav"), SwappingModel(sources), tmp_path / "out", chunk=4.0, overlap=1.0
    )
    assert [p.name for p in written] == ["talk.s1.wav", "talk.s2.wav"]
    streams = np.stack([sf.read(str(p), dtype="float32")[0] for p in written])
    assert streams.shape == sources.shape
    order = [0, 1] if abs(np.corrcoef(streams[0], sources[0])[0, 1]) > 0.5 else [1, 0]
    np.testing.assert_allclose(streams, sources[order], atol=2e-4)  # 16-bit output
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["talk.s1.wav", "talk.s2.wav"]  # no temporaries left
