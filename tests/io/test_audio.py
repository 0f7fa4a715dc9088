from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from meetsep.core.errors import AudioInputError
from meetsep.io.audio import iter_blocks, load_recording, read_all, resample, resample_blocks
from meetsep.schema import ChannelLayout


def tone(seconds: float, rate: int, channels: int = 1) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return np.stack([0.3 * np.sin(2 * np.pi * (220 + 50 * c) * t) for c in range(channels)]).astype(np.float32)


@pytest.mark.parametrize(
    ("extension", "subtype"), [("wav", "PCM_16"), ("flac", "PCM_24"), ("ogg", "VORBIS"), ("mp3", "MPEG_LAYER_III")]
)
def test_reads_common_formats(tmp_path, extension, subtype):
    path = tmp_path / f"tone.{extension}"
    sf.write(str(path), tone(1.0, 22050, 2).T, 22050, subtype=subtype)
    recording = load_recording(path)
    audio = read_all(recording)
    assert audio.dtype == np.float32 and audio.shape == (2, recording.num_samples)
    assert recording.sample_rate == 22050 and abs(recording.duration - 1.0) < 0.1
    assert recording.layout is ChannelLayout.STEREO_SPEAKERS and recording.session_id == "tone"


def test_layout_defaults_by_channel_count():
    assert load_recording(tone(0.5, 16000, 1), sample_rate=16000).layout is ChannelLayout.MONO
    assert load_recording(tone(0.5, 16000, 2), sample_rate=16000).layout is ChannelLayout.STEREO_SPEAKERS
    assert load_recording(tone(0.5, 16000, 4), sample_rate=16000).layout is ChannelLayout.ARRAY
    mono = load_recording(tone(0.5, 16000, 4), sample_rate=16000, layout="mono")
    assert read_all(mono).shape == (1, 8000)


def test_resample_keeps_duration_and_pitch():
    audio = tone(1.0, 44100)
    out = resample(audio, 44100, 16000)
    assert out.shape == (1, 16000) and out.dtype == np.float32
    spectrum = np.abs(np.fft.rfft(out[0]))
    assert abs(np.argmax(spectrum) - 220) <= 1  # 1 Hz bins over 1 s


def write_bytes(path, data: bytes):
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    ("make", "problem"),
    [
        (lambda p: p / "missing.wav", "file not found"),
        (lambda p: p, "is a directory"),
        (lambda p: write_bytes(p / "junk.wav", b"this is not audio at all" * 10), "unreadable"),
        (lambda p: write_bytes(p / "empty.wav", b""), "unreadable"),
    ],
)
def test_bad_files_name_the_file_and_problem(tmp_path, make, problem):
    path = make(tmp_path)
    with pytest.raises(AudioInputError) as error:
        load_recording(path)
    message = str(error.value)
    assert str(path) in message and problem in message and "\n" not in message


def test_blocks_cover_the_file_in_order(tmp_path):
    path = tmp_path / "long.flac"
    audio = tone(3.3, 16000, 3)
    sf.write(str(path), audio.T, 16000, subtype="PCM_24")
    recording = load_recording(path)
    blocks = list(iter_blocks(recording, block_seconds=1.0))
    assert [b.shape for b in blocks] == [(3, 16000)] * 3 + [(3, 4800)]
    assert np.allclose(np.concatenate(blocks, axis=1), audio, atol=1e-6)


def test_nan_inside_a_file_is_found_while_reading(tmp_path):
    audio = tone(2.0, 16000)
    audio[0, 20000] = np.nan
    path = tmp_path / "nan.wav"
    sf.write(str(path), audio.T, 16000, subtype="FLOAT")
    recording = load_recording(path)  # the header is fine
    with pytest.raises(AudioInputError, match="nan.wav: audio contains NaN"):
        read_all(recording)


def test_a_silent_recording_is_found_when_read_to_its_end(tmp_path):
    rng = np.random.default_rng(0)
    dither = rng.integers(-1, 2, size=(2, 48000)).astype(np.float32) / 32768  # 16-bit silence, 1 LSB of dither
    path = tmp_path / "silent.wav"
    sf.write(str(path), dither.T, 16000, subtype="PCM_16")
    for recording in (load_recording(path), load_recording(dither, sample_rate=16000)):
        blocks = iter_blocks(recording, block_seconds=1.0)
        assert next(blocks).shape == (2, 16000)  # found only at the end: a long file is still read once
        with pytest.raises(AudioInputError, match="silent: no sample reaches -80 dBFS"):
            list(blocks)
    quiet = tone(3.0, 16000) * 10 ** (-60 / 20) / 0.3  # a voice at -60 dBFS peak is quiet, not silent
    quiet[:, :32000] = 0.0
    sf.write(str(path), quiet.T, 16000, subtype="PCM_16")
    assert sum(b.shape[1] for b in iter_blocks(load_recording(path), block_seconds=1.0)) == 48000


def test_zero_length_and_truncated_files(tmp_path):
    empty = tmp_path / "zero.wav"
    sf.write(str(empty), np.zeros((0, 1), dtype=np.float32), 16000)
    with pytest.raises(AudioInputError, match="empty"):
        load_recording(empty)
    whole = tmp_path / "whole.wav"
    sf.write(str(whole), tone(2.0, 16000).T, 16000, subtype="PCM_16")
    truncated = write_bytes(tmp_path / "cut.wav", whole.read_bytes()[:20000])
    with pytest.raises(AudioInputError, match="truncated") as error:
        load_recording(truncated)
    assert "cut.wav" in str(error.value)
    flac = tmp_path / "whole.flac"
    sf.write(str(flac), tone(2.0, 16000).T, 16000)
    cut_flac = write_bytes(tmp_path / "cut.flac", flac.read_bytes()[: flac.stat().st_size // 2])
    with pytest.raises(AudioInputError, match="cut.flac"):
        read_all(load_recording(cut_flac))


def test_bad_arrays():
    with pytest.raises(AudioInputError, match="NaN"):
        load_recording(np.array([0.0, np.nan, 0.1], dtype=np.float32), sample_rate=16000)
    with pytest.raises(AudioInputError, match="infinite"):
        load_recording(np.array([0.0, np.inf], dtype=np.float32), sample_rate=16000)
    with pytest.raises(AudioInputError, match="sample_rate is required"):
        load_recording(np.zeros(100, dtype=np.float32))
    with pytest.raises(AudioInputError, match="too low"):
        load_recording(np.zeros(100, dtype=np.float32), sample_rate=4000)
    with pytest.raises(AudioInputError, match="too high"):  # a broken header's rate would need a giant filter
        load_recording(np.zeros(100, dtype=np.float32), sample_rate=4_000_000_000)
    with pytest.raises(AudioInputError, match="transpose"):
        load_recording(np.zeros((16000, 2), dtype=np.float32), sample_rate=16000)
    with pytest.raises(AudioInputError, match="stereo-speakers needs 2 channels"):
        load_recording(tone(0.5, 16000, 3), sample_rate=16000, layout="stereo-speakers")
    with pytest.raises(AudioInputError, match="array needs at least 2"):
        load_recording(tone(0.5, 16000, 1), sample_rate=16000, layout="array")


def test_integer_arrays_are_scaled():
    recording = load_recording((tone(0.5, 16000) * 32767).astype(np.int16), sample_rate=16000)
    assert recording.samples.dtype == np.float32 and 0.25 < np.abs(recording.samples).max() <= 0.31


@pytest.mark.parametrize("source_rate", [48000, 44100, 22050, 8000, 16000])
def test_resampling_block_by_block_equals_resampling_the_whole_signal_bit_for_bit(source_rate):
    """Long recordings at other rates are resampled as they are read: same samples as one call."""
    rng = np.random.default_rng(source_rate)
    signal = rng.standard_normal(source_rate * 2 + 17).astype(np.float32)
    expected = resample(signal, source_rate, 16000)
    for size in (source_rate // 10 + 3, source_rate, len(signal), 1000):
        blocks = [signal[i : i + size] for i in range(0, len(signal), size)]
        ours = np.concatenate(list(resample_blocks(blocks, source_rate, 16000)))
        assert ours.dtype == np.float32
        np.testing.assert_array_equal(ours, expected)


@pytest.mark.parametrize("rate", [8000, 16000, 44100])
def test_channels_made_block_by_block_equal_the_whole_recording_resampled(tmp_path, monkeypatch, rate):
    """Call-center input: each channel at 16 kHz from a temporary file, the same samples as resampling
    the whole recording in memory (what the pipeline did before), bit for bit."""
    import meetsep.io.audio as audio_module
    from meetsep.io.audio import channel_signals

    monkeypatch.setattr(audio_module, "BLOCK_SECONDS", 0.7)  # many blocks, none aligned with anything
    stereo = np.random.default_rng(rate).standard_normal((2, int(3.3 * rate))).astype(np.float32) * 0.1
    path = tmp_path / "call.wav"
    sf.write(str(path), stereo.T, rate, subtype="FLOAT")
    recording = load_recording(path)
    signals = channel_signals(recording, 16000)
    whole = resample(read_all(recording), rate, 16000)
    assert [len(s) for s in signals] == [whole.shape[1]] * 2
    for signal, channel in zip(signals, whole):
        assert np.array_equal(signal[0 : len(signal)], channel)
        signal.close()


def test_a_corrupt_mp3_is_named_as_such_and_the_decoder_stays_quiet(tmp_path, capfd):
    good = tmp_path / "good.mp3"
    sf.write(str(good), tone(2.0, 16000)[0], 16000)
    data = good.read_bytes()
    junk = tmp_path / "junk.mp3"
    junk.write_bytes(b"ID3\x03\x00" + bytes(range(256)) * 8)
    with pytest.raises(AudioInputError, match="junk.mp3: corrupt MP3: no MPEG audio frames could be decoded"):
        load_recording(junk)
    cut = tmp_path / "cut.mp3"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(AudioInputError, match="cut.mp3: corrupt or truncated MP3: its header declares 32000 samples"):
        list(iter_blocks(load_recording(cut)))
    assert capfd.readouterr().err == ""  # libmpg123's notes went to the debug log, not the terminal


def test_mp3_blocks_are_the_samples_soundfiles_blocks_give(tmp_path):
    """Blocks are read as soundfile's ``blocks()`` reads them (after a seek to the start): libmpg123's
    samples differ by a rounding step with the read pattern, and outputs must stay byte-identical."""
    path = tmp_path / "talk.mp3"
    sf.write(str(path), np.random.default_rng(0).standard_normal(16000 * 3).astype(np.float32) * 0.1, 16000)
    theirs = np.concatenate(list(sf.blocks(str(path), blocksize=11200, dtype="float32", always_2d=True))).T
    ours = np.concatenate(list(iter_blocks(load_recording(path), block_seconds=0.7)), axis=1)
    assert np.array_equal(ours, theirs)


def test_block_resampling_reads_its_input_as_it_goes():
    """An endless stream of blocks gives output at once (a long recording is never read whole first)."""
    import itertools

    from meetsep.io.resampling import StreamResampler, resample, resample_blocks

    endless = (np.full(4410, 0.1, np.float32) for _ in itertools.count())
    assert len(next(iter(resample_blocks(endless, 44100, 16000)))) > 0
    signal = np.random.default_rng(0).normal(size=44100).astype(np.float32)
    pushed = StreamResampler(44100, 16000)
    pieces = [pushed.push(signal[a:b]) for a, b in ((0, 1), (1, 5000), (5000, 5001), (5001, 44100))]
    np.testing.assert_array_equal(np.concatenate([*pieces, pushed.finish()]), resample(signal, 44100, 16000))
