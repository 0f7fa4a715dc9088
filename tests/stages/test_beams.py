"""MVDR speaker beams on a simulated array scene with a known answer."""

from __future__ import annotations

import numpy as np
import pytest

from meetsep.analysis.evaluate import si_snr
from meetsep.core.config import BeamformConfig
from meetsep.core.dsp import StftSettings, istft, stft
from meetsep.core.errors import AudioInputError
from meetsep.core.records import Diarization, SeparationJob
from meetsep.io.audio import load_recording
from meetsep.schema import SpeakerSegment
from meetsep.stages.beams import SpeakerBeams, filter_window


def _overlap_gains(meeting, diarization: Diarization, steering: str) -> list[float]:
    """SI-SNR gain of each speaker's beam over microphone 0, inside the overlapped regions."""
    recording = load_recording(
        meeting.audio,
        sample_rate=meeting.sample_rate,
        layout="array",
        mic_positions=meeting.metadata["geometry"]["mics"],
    )
    assert diarization.overlap, "the scene must contain overlapped speech"
    beamformer = SpeakerBeams(BeamformConfig(kind="mvdr", steering=steering))
    beams = beamformer.fit(recording, diarization)
    rate = meeting.sample_rate
    gains = []
    for speaker, beam in beams.items():
        assert beam.filters is not None, speaker
        for start, end in diarization.overlap:
            if end - start < 0.5:
                continue
            first, last = int(start * rate), int(end * rate)
            image = meeting.speaker_images[speaker][first:last]
            output = beamformer.window(recording, beam, start, end, rate)[: last - first]
            gains.append(si_snr(output, image) - si_snr(meeting.audio[0, first:last], image))
    return gains


def test_mvdr_beam_raises_si_snr_of_each_speaker_in_overlap_over_the_reference_mic(meeting, meeting_diarization):
    gains = _overlap_gains(meeting, meeting_diarization, "covariance")
    # measured (seed 4): +4.8 and +8.0 dB
    assert len(gains) >= 2 and min(gains) > 2.0 and np.mean(gains) > 4.0, gains


def test_doa_steered_beam_finds_the_speakers_and_raises_si_snr(meeting, meeting_diarization):
    gains = _overlap_gains(meeting, meeting_diarization, "doa")  # measured: +2.9 and +5.6 dB
    assert len(gains) >= 2 and np.mean(gains) > 1.0, gains
    recording = load_recording(
        meeting.audio,
        sample_rate=meeting.sample_rate,
        layout="array",
        mic_positions=meeting.metadata["geometry"]["mics"],
    )
    beams = SpeakerBeams(BeamformConfig(kind="mvdr", steering="doa")).fit(recording, meeting_diarization)
    geometry = meeting.metadata["geometry"]
    centre = np.mean(geometry["mics"], axis=0)
    for speaker, position in zip(sorted(meeting.speaker_images), geometry["speakers"]):
        truth = np.arctan2(position[1] - centre[1], position[0] - centre[0])
        error = np.degrees(np.angle(np.exp(1j * (beams[speaker].azimuth - truth))))
        assert abs(error) < 15.0, (speaker, error)


def test_doa_steering_needs_the_array_geometry(meeting, meeting_diarization):
    recording = load_recording(meeting.audio, sample_rate=meeting.sample_rate, layout="array")
    with pytest.raises(AudioInputError, match="mic_positions"):
        SpeakerBeams(BeamformConfig(kind="mvdr", steering="doa")).fit(recording, meeting_diarization)


def test_speaker_without_solo_speech_keeps_the_mixture(meeting, meeting_diarization):
    recording = load_recording(meeting.audio, sample_rate=meeting.sample_rate, layout="array")
    diarization = meeting_diarization
    ghost = SpeakerSegment(speaker="ghost", start=diarization.overlap[0][0], end=diarization.overlap[0][1])
    beamformer = SpeakerBeams(BeamformConfig(kind="mvdr"))
    beams = beamformer.fit(recording, Diarization(diarization.segments + [ghost], [], diarization.overlap))
    assert beams["ghost"].filters is None and beams["ghost"].solo_seconds == 0.0
    np.testing.assert_allclose(
        beamformer.window(recording, beams["ghost"], 1.0, 2.0, recording.sample_rate),
        meeting.audio[:, 16000:32000].mean(axis=0),
        atol=1e-6,
    )


def test_filtering_a_window_equals_filtering_the_whole_signal():
    rng = np.random.default_rng(0)
    audio = rng.standard_normal((3, 16000 * 3)).astype(np.float32) * 0.1
    recording = load_recording(audio, sample_rate=16000, layout="array")
    settings = StftSettings(fft_size=512, hop=128)
    filters = (rng.standard_normal((257, 3)) + 1j * rng.standard_normal((257, 3))).astype(np.complex64)
    whole = istft(np.einsum("fc,ctf->tf", filters.conj(), stft(audio, settings)), audio.shape[1], settings)
    window = filter_window(recording, filters, 1.0, 2.0, settings)
    np.testing.assert_allclose(window, whole[16000:32000], atol=1e-4)


@pytest.mark.parametrize("steering", ["covariance", "doa"])
def test_blocks_fitted_side_by_side_equal_one_at_a_time(meeting, meeting_diarization, monkeypatch, steering):
    """fit transforms several blocks of the recording at once and adds their sums in order; the
    beams (filters, DOA snapshots, solo time), and so the speaker streams, are bit-identical."""
    import meetsep.stages.beams as beams_module
    from meetsep.core.config import SeparateConfig
    from meetsep.io.audio import iter_blocks
    from meetsep.stages.beams import SpeakerAudio
    from meetsep.stages.separate import BeamStreams

    monkeypatch.setattr(beams_module, "iter_blocks", lambda recording: iter_blocks(recording, block_seconds=3.0))
    recording = load_recording(
        meeting.audio,
        sample_rate=meeting.sample_rate,
        layout="array",
        mic_positions=meeting.metadata["geometry"]["mics"],
    )
    diarization = meeting_diarization
    assert recording.duration > 4 * 3.0
    fitted, streams = {}, {}
    for workers in (1, 3):
        beamformer = SpeakerBeams(BeamformConfig(kind="mvdr", steering=steering, doa_snapshots=150), workers=workers)
        fitted[workers] = beams = beamformer.fit(recording, diarization)
        source = SpeakerAudio(recording.samples.mean(axis=0), recording, beams, beamformer)
        job = SeparationJob(recording, source, diarization, diarization.segments)
        streams[workers] = BeamStreams(SeparateConfig(), workers=workers)(job)
    assert fitted[1].keys() == fitted[3].keys() and len(fitted[1]) == 2
    for speaker, beam in fitted[1].items():
        other = fitted[3][speaker]
        assert beam.filters is not None and (beam.solo_seconds, beam.azimuth) == (other.solo_seconds, other.azimuth)
        np.testing.assert_array_equal(beam.filters, other.filters)
    assert len(streams[1]) == len(diarization.segments) >= 4
    for one, many in zip(streams[1], streams[3]):
        assert (one.name, one.speaker, one.offset, one.regions) == (many.name, many.speaker, many.offset, many.regions)
        np.testing.assert_array_equal(one.audio, many.audio)


def test_nobody_diarized_means_the_recording_is_not_read(meeting, monkeypatch):
    import meetsep.stages.beams as beams_module

    def no_reading(*args, **kwargs):
        raise AssertionError("the recording was read although nobody was diarized")

    monkeypatch.setattr(beams_module, "iter_blocks", no_reading)
    recording = load_recording(meeting.audio, sample_rate=meeting.sample_rate, layout="array")
    assert SpeakerBeams(BeamformConfig(kind="mvdr")).fit(recording, Diarization([], [], [])) == {}


class _Beams:
    """Speaker audio for the guard: speaker "A"'s beam keeps the mixture, "B"'s holds it 30 dB lower
    except over 10-12 s (where the diarization has both speakers)."""

    rate = 16000
    per_speaker = True

    def __init__(self, mixture: np.ndarray) -> None:
        self.mixture = mixture

    def __call__(self, speaker, first, last):
        piece = self.mixture[first:last].copy()
        if speaker == "B":
            times = np.arange(first, first + len(piece)) / self.rate
            piece[(times < 10.0) | (times >= 12.0)] *= 10 ** (-30 / 20)
        return piece


def test_a_beam_that_lost_its_speakers_solo_speech_gives_way_to_the_mixture():
    """separate.beam_guard_db: a segment whose beam, where its speaker talks alone, is far below the
    mixture comes from the mixture; a beam that keeps its speaker, or is low only in overlap, stays."""
    from meetsep.core.config import SeparateConfig
    from meetsep.stages.separate import BeamStreams

    mixture = np.random.default_rng(0).normal(0.0, 0.1, 16000 * 40).astype(np.float32)
    segments = [
        SpeakerSegment(speaker="A", start=1.0, end=12.0),
        SpeakerSegment(speaker="B", start=10.0, end=20.0),
        SpeakerSegment(speaker="A", start=25.0, end=30.0),
        SpeakerSegment(speaker="B", start=31.0, end=35.0),
    ]
    diarization = Diarization(segments=segments, exclusive=segments, overlap=[(10.0, 12.0)])
    overlapped_only = SpeakerSegment(speaker="B", start=10.0, end=12.0)  # B never alone here: beam kept
    recording = load_recording(mixture[None], sample_rate=16000)
    job = SeparationJob(recording, _Beams(mixture), diarization, [*segments, overlapped_only])
    streams = BeamStreams(SeparateConfig(pad=0.0))(job)
    assert [s.name.split("-")[0] for s in streams] == ["beam", "mix", "beam", "mix", "beam"]
    np.testing.assert_array_equal(streams[1].audio, mixture[160000:320000])
    assert (streams[1].speaker, streams[1].offset, streams[1].regions) == ("B", 10.0, [(10.0, 20.0)])
    unguarded = BeamStreams(SeparateConfig(pad=0.0, beam_guard_db=None))(job)
    assert [s.name.split("-")[0] for s in unguarded] == ["beam"] * 5
    assert BeamStreams(SeparateConfig(pad=0.0, beam_guard_db=40.0))(job)[1].name.startswith("beam")
