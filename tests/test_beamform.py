"""MVDR beams on a simulated array scene with a known answer."""

from __future__ import annotations

import numpy as np
import pytest

from meetsep.attribute import Diarization, overlapping_parts
from meetsep.audio import load_recording
from meetsep.beamform import Beamformer, SpeakerBeams, _inside, filter_window
from meetsep.config import BeamformConfig
from meetsep.errors import AudioInputError
from meetsep.evaluate import si_snr
from meetsep.gss import GssSettings, istft, stft
from meetsep.simulate import SimulationConfig, simulate_meeting
from meetsep.types import SpeakerSegment


@pytest.fixture(scope="module")
def meeting():
    """Two flite talkers (seed 4), 40 % overlap, 4-mic circular array, RT60 0.3 s, SNR 30 dB."""
    return simulate_meeting(
        SimulationConfig(seed=4, num_speakers=2, num_sentences=4, overlap_ratio=0.4, num_mics=4, snr_db=30)
    )


def _diarization(meeting) -> Diarization:
    segments = [
        SpeakerSegment(speaker=e["speaker"], start=e["start_time"], end=e["end_time"]) for e in meeting.reference
    ]
    return Diarization(segments, [], overlapping_parts(segments))


def _overlap_gains(meeting, steering: str) -> list[float]:
    """SI-SNR gain of each speaker's beam over microphone 0, inside the overlapped regions."""
    recording = load_recording(
        meeting.audio,
        sample_rate=meeting.sample_rate,
        layout="array",
        mic_positions=meeting.metadata["geometry"]["mics"],
    )
    diarization = _diarization(meeting)
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


def test_mvdr_beam_raises_si_snr_of_each_speaker_in_overlap_over_the_reference_mic(meeting):
    gains = _overlap_gains(meeting, "covariance")
    # measured (seed 4): +4.8 and +8.0 dB
    assert len(gains) >= 2 and min(gains) > 2.0 and np.mean(gains) > 4.0, gains


def test_doa_steered_beam_finds_the_speakers_and_raises_si_snr(meeting):
    gains = _overlap_gains(meeting, "doa")  # measured: +2.9 and +5.6 dB
    assert len(gains) >= 2 and np.mean(gains) > 1.0, gains
    recording = load_recording(
        meeting.audio,
        sample_rate=meeting.sample_rate,
        layout="array",
        mic_positions=meeting.metadata["geometry"]["mics"],
    )
    beams = SpeakerBeams(BeamformConfig(kind="mvdr", steering="doa")).fit(recording, _diarization(meeting))
    geometry = meeting.metadata["geometry"]
    centre = np.mean(geometry["mics"], axis=0)
    for speaker, position in zip(sorted(meeting.speaker_images), geometry["speakers"]):
        truth = np.arctan2(position[1] - centre[1], position[0] - centre[0])
        error = np.degrees(np.angle(np.exp(1j * (beams[speaker].azimuth - truth))))
        assert abs(error) < 15.0, (speaker, error)


def test_speaker_without_solo_speech_keeps_the_mixture(meeting):
    recording = load_recording(meeting.audio, sample_rate=meeting.sample_rate, layout="array")
    diarization = _diarization(meeting)
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
    settings = GssSettings(fft_size=512, hop=128)
    filters = (rng.standard_normal((257, 3)) + 1j * rng.standard_normal((257, 3))).astype(np.complex64)
    whole = istft(np.einsum("fc,ctf->tf", filters.conj(), stft(audio, settings)), audio.shape[1], settings)
    window = filter_window(recording, filters, 1.0, 2.0, settings)
    np.testing.assert_allclose(window, whole[16000:32000], atol=1e-4)


def test_inside_handles_nested_and_unsorted_spans():
    spans = np.array([(5.0, 6.0), (0.0, 4.0), (1.0, 2.0)])
    assert _inside(np.array([-1.0, 0.5, 1.5, 3.0, 4.5, 5.5, 7.0]), spans).tolist() == [
        False,
        True,
        True,
        True,
        False,
        True,
        False,
    ]
    assert _inside(np.array([1.0]), np.zeros((0, 2))).tolist() == [False]


def test_beamformer_modes_and_errors(meeting):
    recording = load_recording(meeting.audio, sample_rate=meeting.sample_rate, layout="array")
    np.testing.assert_allclose(
        Beamformer(BeamformConfig(kind="average"))(recording), meeting.audio.mean(axis=0), atol=1e-6
    )
    np.testing.assert_array_equal(
        Beamformer(BeamformConfig(kind="reference", reference_channel=2))(recording), meeting.audio[2]
    )
    with pytest.raises(AudioInputError, match="reference_channel 9"):
        Beamformer(BeamformConfig(kind="reference", reference_channel=9))(recording)
    with pytest.raises(AudioInputError, match="mic_positions"):
        SpeakerBeams(BeamformConfig(kind="mvdr", steering="doa")).fit(recording, _diarization(meeting))


def test_spatial_features_tell_apart_where_speech_comes_from(meeting):
    """Two stretches of one talker point the same way; two talkers do not (no geometry needed)."""
    from meetsep.attribute import SpatialFeatures

    recording = load_recording(meeting.audio, sample_rate=meeting.sample_rate, layout="array")
    spatial = SpatialFeatures(recording)
    solo = {}
    diarization = _diarization(meeting)
    for entry in meeting.reference:  # each sentence's part where nobody else speaks
        start, end = entry["start_time"], entry["end_time"]
        for a, b in diarization.overlap:
            if a <= start < b:
                start = b
            if a < end <= b:
                end = a
        if end - start > 1.0:
            solo.setdefault(entry["speaker"], []).append((start, end))
    features = {}
    for speaker, spans in solo.items():  # the two halves of the speaker's longest solo stretch
        start, end = max(spans, key=lambda span: span[1] - span[0])
        middle = (start + end) / 2
        features[speaker] = []
        for a, b in ((start, middle), (middle, end)):
            spectrum = spatial.window(a, b - a)
            features[speaker].append(spatial(spectrum, np.ones(spectrum.shape[1], dtype=bool)))
    (first, second) = [features[name] for name in sorted(features)]
    same = [float(first[0] @ first[1]), float(second[0] @ second[1])]
    different = [float(x @ y) for x in first for y in second]
    # measured: same 0.97 / 0.95, different 0.47-0.48
    assert min(same) > 0.8 and max(different) < min(same) - 0.3, (same, different)
    assert spatial(spectrum, np.zeros(spectrum.shape[1], dtype=bool)).shape == (spatial.dimension,)


@pytest.mark.parametrize("steering", ["covariance", "doa"])
def test_blocks_fitted_side_by_side_equal_one_at_a_time(meeting, monkeypatch, steering):
    """fit transforms several blocks of the recording at once and adds their sums in order; the
    beams (filters, DOA snapshots, solo time), and so the speaker streams, are bit-identical."""
    import meetsep.beamform as beamform
    from meetsep.audio import iter_blocks
    from meetsep.config import SeparateConfig
    from meetsep.separate import BeamStreams, SpeakerAudio

    monkeypatch.setattr(beamform, "iter_blocks", lambda recording: iter_blocks(recording, block_seconds=3.0))
    recording = load_recording(
        meeting.audio,
        sample_rate=meeting.sample_rate,
        layout="array",
        mic_positions=meeting.metadata["geometry"]["mics"],
    )
    diarization = _diarization(meeting)
    assert recording.duration > 4 * 3.0
    fitted, streams = {}, {}
    for workers in (1, 3):
        beamformer = SpeakerBeams(BeamformConfig(kind="mvdr", steering=steering, doa_snapshots=150), workers=workers)
        fitted[workers] = beams = beamformer.fit(recording, diarization)
        source = SpeakerAudio(recording.samples.mean(axis=0), recording, beams, beamformer)
        streams[workers] = BeamStreams(SeparateConfig())(recording, source, diarization, diarization.segments)
    assert fitted[1].keys() == fitted[3].keys() and len(fitted[1]) == 2
    for speaker, beam in fitted[1].items():
        other = fitted[3][speaker]
        assert beam.filters is not None and (beam.solo_seconds, beam.azimuth) == (other.solo_seconds, other.azimuth)
        np.testing.assert_array_equal(beam.filters, other.filters)
    assert len(streams[1]) == len(diarization.segments) >= 4
    for one, many in zip(streams[1], streams[3]):
        assert (one.name, one.speaker, one.offset, one.regions) == (many.name, many.speaker, many.offset, many.regions)
        np.testing.assert_array_equal(one.audio, many.audio)
