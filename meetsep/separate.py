"""Stage 3: separation of overlapped speech into one stream per speaker.

Every separator takes the diarization and a batch of targets — speaker segments, a speaker's
segments closer than ``separate.merge_gap`` merged (:func:`merge_segments`) — and returns one
:class:`~meetsep.types.Stream` per target, carrying that speaker; ASR then transcribes each stream
on its own, so words said in overlap are kept for both speakers. The pipeline hands targets over
in batches of a few minutes of recording, so streams never hold more than one batch of audio.
A :class:`SpeakerAudio` gives each speaker's audio: its MVDR beam with ``beamform.kind=mvdr``
(:class:`BeamStreams` uses the beams alone, when no separation is asked for), else the mixture.

``gss`` (guided source separation, array input): each speaker segment is extracted from the
multichannel recording with diarization-guided cACGMM masks and an MVDR beam (:mod:`meetsep.gss`).
Windows are read from the file one at a time (segment plus ``separate.context`` on each side), so
memory stays bounded.

``convtasnet`` / ``sepformer`` (any input): each region where the diarization has two or more
speakers is cut from the speaker's audio (the mixture, or its beam) with ``separate.pad`` seconds
on each side and separated by a single-channel network (:mod:`meetsep.sepmodels`). The network's
outputs are scaled to the input (least squares) and matched to the region's speakers by CAM++
similarity with each speaker's own single-speaker speech. A speaker's stream is its audio, with its
separated output cross-faded in over each overlapped region it takes part in.
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from meetsep.audio import read_window, resample
from meetsep.config import RuntimeConfig, SeparateConfig
from meetsep.errors import AudioInputError
from meetsep.gss import GssSettings, enhance_segment
from meetsep.hooks import StageReporter
from meetsep.models import load_separation, resolve_model
from meetsep.types import ChannelLayout, Recording, SpeakerSegment, Stream

if TYPE_CHECKING:
    from meetsep.attribute import Diarization, SpeakerEmbedder
    from meetsep.beamform import SpeakerBeam, SpeakerBeams

DEFAULT_MODELS = {"convtasnet": "convtasnet-16k", "sepformer": "sepformer-whamr16k"}
REFERENCE_SECONDS = 12.0  # single-speaker speech embedded as a speaker's reference, at most


def merge_segments(segments: list[SpeakerSegment], gap: float) -> list[SpeakerSegment]:
    """Merge each speaker's segments that are closer than ``gap`` seconds; sorted by start."""
    merged: list[SpeakerSegment] = []
    for speaker in sorted({s.speaker for s in segments}):
        own = sorted((s for s in segments if s.speaker == speaker), key=lambda s: s.start)
        current = own[0]
        for segment in own[1:]:
            if segment.start - current.end <= gap:
                current = SpeakerSegment(speaker=speaker, start=current.start, end=max(current.end, segment.end))
            else:
                merged.append(current)
                current = segment
        merged.append(current)
    return sorted(merged, key=lambda s: (s.start, s.end, s.speaker))


class GuidedSeparator:
    """Array recording + diarization → one enhanced 16 kHz stream per speaker segment."""

    sample_rate = 16000

    def __init__(self, config: SeparateConfig) -> None:
        self.config = config
        self.settings = GssSettings(fft_size=config.fft_size, hop=config.hop, iterations=config.iterations)

    def __call__(
        self,
        recording: Recording,
        source: SpeakerAudio,
        diarization: Diarization,
        targets: list[SpeakerSegment],
        reporter: StageReporter | None = None,
    ) -> list[Stream]:
        """Targets that overlap another speaker are extracted by GSS from the multichannel file; with
        ``separate.gss_overlapped_only`` the others come from ``source`` (their beam, or the mixture)."""
        if recording.layout is not ChannelLayout.ARRAY:
            raise AudioInputError(
                recording.source,
                f"separate.kind=gss needs array input (2+ channels, layout array), got {recording.layout.value}",
            )
        segments, rate = diarization.segments, self.sample_rate
        streams = []
        for index, target in enumerate(targets):
            if self.config.gss_overlapped_only and not any(
                a < target.end and b > target.start for a, b in diarization.overlap
            ):
                # nobody else speaks here: the speaker's audio (its MVDR beam, or the mixture) is enough
                streams.append(speaker_stream(source, target, self.config.pad))
            else:
                start = max(0.0, target.start - self.config.context)
                end = min(recording.duration, target.end + self.config.context)
                piece = resample(read_window(recording, start, end), recording.sample_rate, rate)
                enhanced = _in_range(enhance_segment(piece, rate, start, segments, target.speaker, self.settings))
                streams.append(
                    Stream(
                        enhanced,
                        rate,
                        f"gss-{target.speaker}-{target.start:.2f}",
                        target.speaker,
                        [(target.start, target.end)],
                        start,
                    )
                )
            if reporter is not None:
                reporter.progress(index + 1, len(targets))
        return streams


class SpeakerAudio:
    """A speaker's audio at 16 kHz: its MVDR beam (``beamform.kind=mvdr``) or else the mixture.

    Args:
        mixture: ``(samples,)`` float32 at 16 kHz, the (beamformed) mixture that was diarized.
        recording: the multichannel recording the beams filter (with ``beams``).
        beams: speaker → fitted beam, from :class:`meetsep.beamform.SpeakerBeams`.
    """

    rate = 16000

    def __init__(
        self,
        mixture: np.ndarray,
        recording: Recording | None = None,
        beams: dict[str, SpeakerBeam] | None = None,
        beamformer: SpeakerBeams | None = None,
    ) -> None:
        self.mixture, self.recording, self.beams, self.beamformer = mixture, recording, beams or {}, beamformer

    @property
    def per_speaker(self) -> bool:
        """Whether speakers get different audio (their own beams) rather than the one mixture."""
        return any(beam.filters is not None for beam in self.beams.values())

    def __call__(self, speaker: str | None, first: int, last: int) -> np.ndarray:
        """Samples ``[first, last)`` (16 kHz, clipped to the recording) of ``speaker``'s audio."""
        first, last = max(0, first), min(len(self.mixture), last)
        beam = self.beams.get(speaker) if speaker is not None else None
        if beam is None or beam.filters is None or self.recording is None or self.beamformer is None:
            return self.mixture[first:last].copy()
        audio = self.beamformer.window(self.recording, beam, first / self.rate, last / self.rate, self.rate)
        return np.pad(audio, (0, max(0, last - first - len(audio))))[: last - first]


class BeamStreams:
    """Each speaker segment from that speaker's beam (``beamform.kind=mvdr`` without separation)."""

    sample_rate = 16000

    def __init__(self, config: SeparateConfig) -> None:
        self.config = config

    def __call__(
        self,
        recording: Recording,
        source: SpeakerAudio,
        diarization: Diarization,
        targets: list[SpeakerSegment],
        reporter: StageReporter | None = None,
    ) -> list[Stream]:
        streams = []
        for index, target in enumerate(targets):
            streams.append(speaker_stream(source, target, self.config.pad))
            if reporter is not None:
                reporter.progress(index + 1, len(targets))
        return streams


def speaker_stream(source: SpeakerAudio, target: SpeakerSegment, pad: float) -> Stream:
    """The target segment (± ``pad`` s) of its speaker's audio, as a stream carrying that speaker."""
    rate = source.rate
    first = max(0, int((target.start - pad) * rate))
    piece = _in_range(source(target.speaker, first, int((target.end + pad) * rate)))
    return Stream(
        piece,
        rate,
        f"beam-{target.speaker}-{target.start:.2f}",
        target.speaker,
        [(target.start, target.end)],
        first / rate,
    )


class NeuralSeparator:
    """Speaker audio + diarization → one 16 kHz stream per speaker segment, overlaps separated by a network."""

    sample_rate = 16000

    def __init__(self, config: SeparateConfig, runtime: RuntimeConfig, embedder: SpeakerEmbedder) -> None:
        self.config = config
        self.embedder = embedder
        name = config.model or DEFAULT_MODELS[config.kind]
        self.resolved = resolve_model(
            name, "separation", model_dir=runtime.model_dir, allow_download=runtime.allow_download
        )
        self._references: tuple[Any, dict[str, np.ndarray]] = (None, {})

    def __call__(
        self,
        recording: Recording,
        source: SpeakerAudio,
        diarization: Diarization,
        targets: list[SpeakerSegment],
        reporter: StageReporter | None = None,
    ) -> list[Stream]:
        """With per-speaker beams, each speaker's own beam is separated and the output that matches it kept."""
        model = load_separation(self.resolved)
        rate, pad = self.sample_rate, self.config.pad
        key = (id(source), id(diarization))
        if self._references[0] != key:  # once per recording, not per batch of targets
            self._references = (key, self.references(source, diarization))
        references = self._references[1]
        span = (min(t.start for t in targets) - pad, max(t.end for t in targets) + pad) if targets else (0.0, 0.0)
        regions = [(start, end) for start, end in diarization.overlap if end > span[0] and start < span[1]]
        separated: dict[str, list[tuple[float, float, int, np.ndarray]]] = {}
        for index, (start, end) in enumerate(regions):
            speakers = _most_active(diarization.segments, start, end, model.num_sources)
            if len(speakers) >= 2:
                first, last = max(0, int((start - pad) * rate)), int((end + pad) * rate)
                if source.per_speaker:  # each speaker's beam holds less of the others: separate it, keep its own part
                    for speaker in speakers:
                        window = source(speaker, first, last)
                        outputs = fit_to_mixture(model.separate(window, rate), window)
                        matched = match_outputs(outputs, speakers, references, self.embedder)
                        separated.setdefault(speaker, []).append((start, end, first, matched[speaker]))
                else:
                    window = source(None, first, last)
                    outputs = fit_to_mixture(model.separate(window, rate), window)
                    for speaker, output in match_outputs(outputs, speakers, references, self.embedder).items():
                        separated.setdefault(speaker, []).append((start, end, first, output))
            if reporter is not None:
                reporter.progress(index + 1, len(regions))
        streams = []
        for target in targets:
            first = max(0, int((target.start - pad) * rate))
            piece = source(target.speaker, first, int((target.end + pad) * rate))
            for start, end, origin, output in separated.get(target.speaker, []):
                crossfade_into(piece, first, output, origin, start, end, self.config.crossfade, rate)
            streams.append(
                Stream(
                    _in_range(piece),
                    rate,
                    f"sep-{target.speaker}-{target.start:.2f}",
                    target.speaker,
                    [(target.start, target.end)],
                    first / rate,
                )
            )
        return streams

    def references(self, source: SpeakerAudio, diarization: Diarization) -> dict[str, np.ndarray]:
        """Each speaker's embedding from up to ``REFERENCE_SECONDS`` of its speech outside overlaps."""
        rate = self.sample_rate
        references = {}
        for speaker in diarization.speakers:
            spans = subtract_intervals(
                [(s.start, s.end) for s in diarization.segments if s.speaker == speaker], diarization.overlap
            )
            pieces, total = [], 0
            for start, end in sorted(spans, key=lambda span: span[0] - span[1]):  # longest first
                piece = source(speaker, int(start * rate), int(end * rate))
                pieces.append(piece)
                total += len(piece)
                if total >= REFERENCE_SECONDS * rate:
                    break
            embedding = self.embedder(np.concatenate(pieces)) if pieces else None
            if embedding is not None and not np.isnan(embedding).any():
                references[speaker] = embedding
        return references


def _in_range(audio: np.ndarray) -> np.ndarray:
    """Scale down audio whose peak exceeds 0.99 (beams can be louder than their input) for Whisper."""
    peak = float(np.abs(audio).max()) if len(audio) else 0.0
    return (audio * (0.99 / peak)).astype(np.float32) if peak > 0.99 else audio.astype(np.float32)


def subtract_intervals(
    spans: list[tuple[float, float]], removed: list[tuple[float, float]]
) -> list[tuple[float, float]]:
    """``spans`` minus ``removed`` (pyannote.core timelines)."""
    from pyannote.core import Segment, Timeline

    kept = Timeline([Segment(a, b) for a, b in spans if b > a]).support()
    return [(s.start, s.end) for s in kept.extrude(Timeline([Segment(a, b) for a, b in removed if b > a]))]


def _most_active(segments: list[SpeakerSegment], start: float, end: float, limit: int) -> list[str]:
    """The speakers active in ``[start, end]``, longest-active first, at most ``limit``."""
    active: dict[str, float] = {}
    for segment in segments:
        seconds = min(end, segment.end) - max(start, segment.start)
        if seconds > 0:
            active[segment.speaker] = active.get(segment.speaker, 0.0) + seconds
    return sorted(active, key=lambda speaker: (-active[speaker], speaker))[:limit]


def fit_to_mixture(outputs: np.ndarray, mixture: np.ndarray) -> np.ndarray:
    """Scale each output (SI-SNR-trained networks have no fixed gain) so their sum best fits the mixture."""
    gains, *_ = np.linalg.lstsq(outputs.T.astype(np.float64), mixture.astype(np.float64), rcond=None)
    return (outputs * np.clip(gains, 0.0, None)[:, None]).astype(np.float32)


def match_outputs(
    outputs: np.ndarray, speakers: list[str], references: dict[str, np.ndarray], embedder: SpeakerEmbedder
) -> dict[str, np.ndarray]:
    """Speaker → output, the assignment of highest total cosine similarity to the speakers' references.

    A speaker without a reference (it never speaks alone) scores 0 with every output, so it takes the
    output the others leave.
    """
    from scipy.optimize import linear_sum_assignment

    embeddings = [embedder(output) for output in outputs]
    score = np.zeros((len(speakers), len(outputs)))
    for row, speaker in enumerate(speakers):
        for column, embedding in enumerate(embeddings):
            if speaker in references and not np.isnan(embedding).any():
                score[row, column] = float(np.dot(references[speaker], embedding))
    rows, columns = linear_sum_assignment(-score)
    return {speakers[r]: outputs[c] for r, c in zip(rows, columns)}


def crossfade_into(
    piece: np.ndarray,
    piece_start: int,
    output: np.ndarray,
    output_start: int,
    start: float,
    end: float,
    fade: float,
    rate: int,
) -> None:
    """Replace ``piece`` by ``output`` over ``[start, end]`` s, with raised-cosine ramps of ``fade`` s outside it.

    ``piece`` and ``output`` begin at samples ``piece_start`` and ``output_start`` of the recording.
    """
    ramp = max(1, int(fade * rate))
    first, last = (
        max(int(start * rate) - ramp, piece_start, output_start),
        min(int(end * rate) + ramp, piece_start + len(piece), output_start + len(output)),
    )
    if last <= first:
        return
    times = np.arange(first, last)
    weight = np.clip(np.minimum(times - (int(start * rate) - ramp), int(end * rate) + ramp - times) / ramp, 0.0, 1.0)
    weight = 0.5 - 0.5 * np.cos(np.pi * weight)
    target = slice(first - piece_start, last - piece_start)
    piece[target] = (1.0 - weight) * piece[target] + weight * output[first - output_start : last - output_start]


def separate_file(
    recording: Recording,
    model: Any,
    out_dir: Path,
    *,
    start: float = 0.0,
    end: float | None = None,
    chunk: float = 30.0,
    overlap: float = 2.0,
    reporter: StageReporter | None = None,
) -> list[Path]:
    """Separate ``[start, end)`` of a recording into ``<stem>.s1.wav`` … (16 kHz, one file per source).

    Chunks of ``chunk`` seconds overlapping by ``overlap`` keep memory bounded; each chunk's outputs
    are put in the order that best correlates with the previous chunk's over the shared part, then
    cross-faded there. Several channels are averaged first. Files appear only when complete.
    """
    import soundfile as sf

    rate = NeuralSeparator.sample_rate
    end = recording.duration if end is None else min(end, recording.duration)
    if not 0.0 <= start < end:
        raise AudioInputError(
            recording.source, f"empty time range {start:.2f}-{end:.2f} s (duration {recording.duration:.2f} s)"
        )
    if overlap >= chunk:
        raise ValueError("overlap must be shorter than chunk")
    stem = Path(recording.source).stem
    out_dir.mkdir(parents=True, exist_ok=True)
    finals = [out_dir / f"{stem}.s{i + 1}.wav" for i in range(model.num_sources)]
    temporaries = [path.with_name(f".{path.name}.tmp") for path in finals]
    files = [sf.SoundFile(str(t), "w", rate, 1, "PCM_16", format="WAV") for t in temporaries]
    shared = int(overlap * rate)
    fade = np.linspace(0.0, 1.0, shared, dtype=np.float32)
    try:
        tail: np.ndarray | None = None  # the previous chunk's last `shared` samples, not yet written
        position, count = start, int(np.ceil(max(end - start - overlap, 1e-9) / (chunk - overlap)))
        for index in range(count):
            stop = min(end, position + chunk)
            window = resample(read_window(recording, position, stop).mean(axis=0), recording.sample_rate, rate)
            outputs = fit_to_mixture(model.separate(window, rate), window)
            if tail is not None:
                head = outputs[:, : tail.shape[1]]
                orders = list(itertools.permutations(range(len(outputs))))
                best = max(orders, key=lambda order: sum(float(np.dot(tail[i], head[j])) for i, j in enumerate(order)))
                outputs = outputs[list(best)]
                joined = tail * (1.0 - fade[: tail.shape[1]]) + outputs[:, : tail.shape[1]] * fade[: tail.shape[1]]
                outputs = np.concatenate([joined, outputs[:, tail.shape[1] :]], axis=1)
            last = index == count - 1
            keep = outputs.shape[1] if last else max(0, outputs.shape[1] - shared)
            for file, output in zip(files, outputs[:, :keep]):
                file.write(np.clip(output, -1.0, 1.0))
            tail = outputs[:, keep:]
            position = stop - overlap
            if reporter is not None:
                reporter.progress(index + 1, count)
        for file, temporary, final in zip(files, temporaries, finals):
            file.close()
            os.replace(temporary, final)
    finally:
        for file, temporary in zip(files, temporaries):
            file.close()
            temporary.unlink(missing_ok=True)
    return finals
