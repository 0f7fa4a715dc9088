"""Reading, checking and resampling audio.

Files are read with soundfile (libsndfile: WAV, FLAC, OGG/Vorbis/Opus, MP3) in blocks, so a long
multichannel recording is never held whole in memory. Every problem with an input becomes an
:class:`~meetsep.core.errors.AudioInputError` naming the file and the problem; what the MP3 decoder
prints on its own is kept off the terminal (:mod:`meetsep.io.decoding`).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from meetsep.core.chunking import spans
from meetsep.core.errors import AudioInputError
from meetsep.core.protocols import SpeakerSource
from meetsep.core.records import Recording, Stream
from meetsep.io.decoding import is_mpeg, quiet_decoder, wav_missing_bytes
from meetsep.io.resampling import StreamResampler, resample, resample_blocks  # noqa: F401  (their old home)
from meetsep.schema import ChannelLayout, SpeakerSegment

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3")
MIN_SAMPLE_RATE = 8000
MAX_SAMPLE_RATE = 384000  # a header beyond this is broken or hostile: resampling it would need a giant filter
MAX_CHANNELS = 64
BLOCK_SECONDS = 60.0
SILENT_PEAK = 1e-4  # -80 dBFS: a recording no sample of which reaches this holds no signal (16-bit dither: 3e-5)


class SignalFile:
    """A mono float32 signal kept in an anonymous temporary file, read back by slices.

    The 16 kHz mixture of a 2-hour meeting is 460 MB as float32; stages read the windows they need
    (``signal[a:b]`` gives a NumPy array, like slicing an array would), so the mixture does not
    hold memory in proportion to the recording. ``len()`` and contiguous slices are all it offers;
    the file is gone when the object is (or on :meth:`close`).
    """

    dtype = np.dtype(np.float32)

    def __init__(self, blocks: Iterable[np.ndarray] = ()) -> None:
        self._file = tempfile.TemporaryFile(prefix="meetsep-signal-")
        self._length = 0
        for block in blocks:
            self.append(block)

    def append(self, samples: np.ndarray) -> None:
        """Add samples at the end."""
        data = np.ascontiguousarray(samples, dtype=np.float32)
        self._file.write(data.tobytes())
        self._file.flush()
        self._length += len(data)

    def __len__(self) -> int:
        return self._length

    @property
    def shape(self) -> tuple[int]:
        return (self._length,)

    def __getitem__(self, index: slice) -> np.ndarray:
        if not isinstance(index, slice) or index.step not in (None, 1):
            raise TypeError("a SignalFile is read by contiguous slices only")
        start, stop, _ = index.indices(self._length)
        buffer = bytearray(max(0, stop - start) * self.dtype.itemsize)
        done = 0
        while done < len(buffer):  # pread may return less than asked
            read = os.preadv(self._file.fileno(), [memoryview(buffer)[done:]], start * self.dtype.itemsize + done)
            if read <= 0:
                raise OSError(f"temporary signal file: {len(buffer) - done} bytes missing")
            done += read
        return np.frombuffer(buffer, dtype=self.dtype)

    def close(self) -> None:
        self._file.close()


def resolve_layout(requested: str | ChannelLayout, num_channels: int, source: str) -> ChannelLayout:
    """Turn ``auto`` into a layout and check that a requested layout fits the channel count.

    ``auto``: 1 channel -> mono, 2 -> stereo-speakers, 3 or more -> array.
    """
    value = requested.value if isinstance(requested, ChannelLayout) else requested
    if value == "auto":
        if num_channels == 1:
            return ChannelLayout.MONO
        return ChannelLayout.STEREO_SPEAKERS if num_channels == 2 else ChannelLayout.ARRAY
    try:
        layout = ChannelLayout(value)
    except ValueError:
        raise AudioInputError(source, f"unknown layout {value!r} (use auto, mono, array or stereo-speakers)") from None
    if layout is ChannelLayout.STEREO_SPEAKERS and num_channels != 2:
        raise AudioInputError(source, f"layout stereo-speakers needs 2 channels, the audio has {num_channels}")
    if layout is ChannelLayout.ARRAY and num_channels < 2:
        raise AudioInputError(source, "layout array needs at least 2 channels, the audio has 1")
    return layout


def _check_rate_and_channels(sample_rate: int, channels: int, source: str) -> None:
    if int(sample_rate) < MIN_SAMPLE_RATE:
        raise AudioInputError(source, f"sample rate {sample_rate} Hz is too low (need at least {MIN_SAMPLE_RATE} Hz)")
    if int(sample_rate) > MAX_SAMPLE_RATE:
        raise AudioInputError(source, f"sample rate {sample_rate} Hz is too high (at most {MAX_SAMPLE_RATE} Hz)")
    if channels > MAX_CHANNELS:
        raise AudioInputError(source, f"{channels} channels; expected (channels, samples) — pass the transpose?")


def _check_finite(block: np.ndarray, source: str) -> None:
    if not np.all(np.isfinite(block)):
        raise AudioInputError(source, "audio contains NaN or infinite samples")


def _loudest(block: np.ndarray, so_far: float) -> float:
    """The largest sample magnitude of ``block`` and ``so_far``, without a copy of the block (a minute of 8
    channels at 48 kHz would be 92 MB more)."""
    return max(so_far, float(block.max(initial=0.0)), -float(block.min(initial=0.0)))


def _check_not_silent(loudest: float, source: str | Path) -> None:
    if loudest < SILENT_PEAK:
        raise AudioInputError(source, "silent: no sample reaches -80 dBFS, so it holds no speech")


def check_samples(audio: np.ndarray, sample_rate: int, source: str) -> np.ndarray:
    """Validate an in-memory signal and return it as ``(channels, samples)`` float32."""
    array = np.asarray(audio)
    if array.ndim == 1:
        array = array[None, :]
    if array.ndim != 2:
        raise AudioInputError(source, f"audio must have shape (channels, samples), got {array.shape}")
    if not np.issubdtype(array.dtype, np.number):
        raise AudioInputError(source, f"audio has non-numeric dtype {array.dtype}")
    _check_rate_and_channels(sample_rate, array.shape[0], source)
    if array.shape[1] == 0:
        raise AudioInputError(source, "no audio samples (empty)")
    if np.issubdtype(array.dtype, np.integer):
        array = array.astype(np.float32) / float(np.iinfo(array.dtype).max)
    array = array.astype(np.float32, copy=False)
    _check_finite(array, source)
    return array


def _open_info(path: Path) -> tuple[int, int, int]:
    """``(sample_rate, channels, frames)`` from the header, after the cheap checks."""
    import soundfile as sf

    if not path.exists():
        raise AudioInputError(path, "file not found")
    if path.is_dir():
        raise AudioInputError(path, "is a directory, not an audio file")
    mpeg = is_mpeg(path)
    try:
        with quiet_decoder(mpeg):
            info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError, TypeError) as error:
        if mpeg:  # libsndfile's message for an MP3 it cannot decode speaks of pipes
            raise AudioInputError(path, "corrupt MP3: no MPEG audio frames could be decoded") from None
        raise AudioInputError(path, f"unreadable or unsupported audio ({_first_line(error)})") from None
    _check_rate_and_channels(info.samplerate, info.channels, str(path))
    if info.frames == 0:
        raise AudioInputError(path, "no audio samples (empty)")
    missing = wav_missing_bytes(path)
    if missing:
        raise AudioInputError(path, f"truncated audio: the WAV data chunk lacks {missing} bytes its header declares")
    return int(info.samplerate), int(info.channels), int(info.frames)


def iter_blocks(recording: Recording, block_seconds: float = BLOCK_SECONDS) -> Iterator[np.ndarray]:
    """Yield ``(channels, n)`` float32 blocks in order; mono layout yields the channel average.

    Files are read block by block (memory bounded by the block size) and checked as they go; a
    recording read to its end must hold a sample of ``SILENT_PEAK`` or more.

    Raises:
        AudioInputError: NaN/infinite samples, a file shorter than its header says, or silence
            throughout (found at the end of the recording).
    """
    size = max(1, int(block_seconds * recording.sample_rate))
    downmix = recording.layout is ChannelLayout.MONO and recording.num_channels > 1
    loudest = 0.0
    if recording.samples is not None:
        for start, stop in spans(0, recording.num_samples, size):
            block = recording.samples[:, start:stop]
            loudest = _loudest(block, loudest)
            yield block.mean(axis=0, keepdims=True) if downmix else block
        _check_not_silent(loudest, recording.source)
        return
    import soundfile as sf

    assert recording.path is not None
    mpeg = is_mpeg(recording.path)
    read = 0
    try:
        with quiet_decoder(mpeg):
            stream = sf.SoundFile(str(recording.path))
        try:
            if stream.seekable():
                with quiet_decoder(mpeg):
                    stream.seek(0)  # as soundfile's blocks() does: libmpg123's samples differ without it
            while read < recording.num_samples:  # as far as the header says, as soundfile's blocks() reads
                with quiet_decoder(mpeg):  # only around the decoder's own work, never across a yield
                    block = stream.read(min(size, recording.num_samples - read), dtype="float32", always_2d=True)
                if not len(block):
                    break
                read += block.shape[0]
                block = np.ascontiguousarray(block.T)
                _check_finite(block, recording.source)
                loudest = _loudest(block, loudest)
                yield block.mean(axis=0, keepdims=True) if downmix else block
        finally:
            stream.close()
    except (sf.LibsndfileError, RuntimeError) as error:
        raise AudioInputError(recording.path, f"corrupt or truncated audio ({_first_line(error)})") from None
    if read < recording.num_samples and mpeg:
        raise AudioInputError(
            recording.path,
            f"corrupt or truncated MP3: its header declares {recording.num_samples} samples, only {read} could be decoded",
        )
    if read < recording.num_samples:
        raise AudioInputError(
            recording.path, f"truncated audio: header says {recording.num_samples} samples, only {read} could be read"
        )
    _check_not_silent(loudest, recording.source)


def read_window(recording: Recording, start: float, end: float) -> np.ndarray:
    """Samples of ``[start, end)`` seconds as stored, ``(channels, n)`` float32, read from disk if needed."""
    first = max(0, int(round(start * recording.sample_rate)))
    last = min(recording.num_samples, int(round(end * recording.sample_rate)))
    if recording.samples is not None:
        return recording.samples[:, first:last]
    import soundfile as sf

    try:
        with quiet_decoder(is_mpeg(recording.path)):
            block = sf.read(str(recording.path), start=first, stop=last, dtype="float32", always_2d=True)[0].T
    except (sf.LibsndfileError, RuntimeError) as error:
        raise AudioInputError(recording.source, f"corrupt or truncated audio ({_first_line(error)})") from None
    _check_finite(block, recording.source)
    return np.ascontiguousarray(block)


def channel_signals(recording: Recording, rate: int) -> list[SignalFile]:
    """Each channel of the recording at ``rate``, as a :class:`SignalFile` made block by block.

    One pass over the file (memory of a block, whatever the length); a channel that needs resampling
    is kept at its own rate first, then resampled block by block (:func:`resample_blocks`: the same
    samples as resampling the whole channel at once). The caller closes the files.
    """
    stored = [SignalFile() for _ in range(recording.num_channels)]
    made: list[SignalFile] = []
    try:
        for block in iter_blocks(recording):
            for signal, samples in zip(stored, block):
                signal.append(samples)
        if recording.sample_rate == rate:
            return stored
        size = max(1, int(BLOCK_SECONDS * recording.sample_rate))
        for signal in stored:
            pieces = (signal[start:stop] for start, stop in spans(0, len(signal), size))
            made.append(SignalFile(resample_blocks(pieces, recording.sample_rate, rate)))
            signal.close()
        return made
    except BaseException:
        for signal in stored + made:
            signal.close()
        raise


def read_all(recording: Recording) -> np.ndarray:
    """The whole recording as ``(channels, samples)`` float32 (mono layout: one channel)."""
    if recording.samples is not None and not (recording.layout is ChannelLayout.MONO and recording.num_channels > 1):
        return recording.samples
    return np.concatenate(list(iter_blocks(recording)), axis=1)


def load_recording(
    source: str | Path | np.ndarray,
    *,
    sample_rate: int | None = None,
    layout: str | ChannelLayout = "auto",
    session_id: str | None = None,
    mic_positions: list[list[float]] | np.ndarray | None = None,
) -> Recording:
    """Make a :class:`Recording` from a file path (header checked, samples read later) or an array.

    Args:
        source: a path, or an array shaped ``(channels, samples)`` or ``(samples,)``.
        sample_rate: required for arrays; ignored for files.
        layout: ``auto``, ``mono``, ``array`` or ``stereo-speakers``.
        session_id: output name; default the file stem (or ``"recording"``).
        mic_positions: ``(channels, 3)`` list or ``(3, channels)`` array of mic coordinates (m).
    """
    samples = None
    path = None
    if isinstance(source, (str, Path)):
        path = Path(source)
        rate, channels, frames = _open_info(path)
        name, where = session_id or path.stem, str(source)
    else:
        if sample_rate is None:
            raise AudioInputError("<array>", "sample_rate is required for in-memory audio")
        samples = check_samples(source, sample_rate, "<array>")
        rate, (channels, frames) = int(sample_rate), samples.shape
        name, where = session_id or "recording", "<array>"
    resolved = resolve_layout(layout, channels, where)
    positions = None
    if mic_positions is not None:
        positions = np.asarray(mic_positions, dtype=np.float64)
        if positions.shape[0] != 3:
            positions = positions.T
        if positions.shape != (3, channels):
            raise AudioInputError(
                where, f"mic_positions has shape {positions.shape}, expected 3 coordinates per channel ({channels})"
            )
    return Recording(rate, channels, frames, resolved, name, where, path, samples, positions)


def _first_line(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0]


def in_range(audio: np.ndarray) -> np.ndarray:
    """Scale down audio whose peak exceeds 0.99 (beams can be louder than their input) for Whisper."""
    peak = float(np.abs(audio).max()) if len(audio) else 0.0
    return (audio * (0.99 / peak)).astype(np.float32) if peak > 0.99 else audio.astype(np.float32)


def speaker_stream(source: SpeakerSource, target: SpeakerSegment, pad: float) -> Stream:
    """The target segment (± ``pad`` s) of its speaker's audio, as a stream carrying that speaker."""
    rate = source.rate
    first = max(0, int((target.start - pad) * rate))
    piece = in_range(source(target.speaker, first, int((target.end + pad) * rate)))
    return Stream(
        piece,
        rate,
        f"beam-{target.speaker}-{target.start:.2f}",
        target.speaker,
        [(target.start, target.end)],
        first / rate,
    )
