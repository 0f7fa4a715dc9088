"""Stage 5: separation of overlapped speech into one stream per speaker segment.

Every separator (a :class:`~meetsep.core.protocols.Separator`) takes the recording, each speaker's audio (a
:class:`~meetsep.core.protocols.SpeakerSource`: its MVDR beam from :mod:`meetsep.stages.beams`, or the mixture),
the diarization and a batch of targets — speaker segments, a speaker's segments closer than
``separate.merge_gap`` merged — and returns one :class:`~meetsep.core.records.Stream` per target, carrying
that speaker; ASR then transcribes each stream on its own, so words said in overlap are kept for
both speakers. The pipeline hands targets over in batches of a few minutes of recording, so streams
never hold more than one batch of audio.

- :class:`BeamStreams` (``separate.kind=none`` with ``beamform.kind=mvdr``): each segment from the
  speaker's beam.
- :class:`meetsep.stages.gss.GuidedSeparator` (``gss``, array input): guided source separation.
- :class:`NeuralSeparator` (``convtasnet`` / ``sepformer``, any input): each region where the
  diarization has two or more speakers is cut from the speaker's audio with ``separate.pad``
  seconds on each side and separated by a single-channel network (:mod:`meetsep.loading.sepmodels`). The
  network's outputs are scaled to the input (least squares) and matched to the region's speakers
  by speaker-embedding similarity with each speaker's own single-speaker speech. A speaker's stream
  is its audio, with its separated output cross-faded in over each overlapped region it takes part in.

:func:`separate_file` separates a whole file (or a range of it) chunk by chunk into one WAV per
source (``meetsep separate``).
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import numpy as np

from meetsep.core.chunking import crossfade, spans
from meetsep.core.clustering import matched_pairs
from meetsep.core.config import RuntimeConfig, SeparateConfig
from meetsep.core.errors import AudioInputError
from meetsep.core.hooks import StageReporter
from meetsep.core.intervals import subtract_intervals
from meetsep.core.logs import logger
from meetsep.core.parallel import imap_single_threaded
from meetsep.core.protocols import Embedder, SpeakerSource
from meetsep.core.records import Diarization, Interval, Recording, SeparationJob, Stream
from meetsep.io.audio import in_range, read_window, resample, speaker_stream
from meetsep.io.files import atomic_paths, confined
from meetsep.loading.models import load_separation, resolve_model
from meetsep.schema import SpeakerSegment

DEFAULT_MODELS = {"convtasnet": "convtasnet-16k", "sepformer": "sepformer-whamr16k"}
REFERENCE_SECONDS = 12.0  # single-speaker speech embedded as a speaker's reference, at most


class BeamStreams:
    """Each speaker segment from that speaker's beam (``beamform.kind=mvdr`` without separation).

    A beam keeps the speech that comes from where its speaker was heard alone and suppresses what
    comes from elsewhere. Where the diarization gave one label to people in different places (a
    speaker count found or forced too low), the beam suppresses the others, and their words would
    be lost: a segment whose beam, over the time its speaker talks alone, carries less than
    ``separate.beam_guard_db`` dB below the mixture's power comes from the mixture instead.
    """

    sample_rate = 16000

    def __init__(self, config: SeparateConfig, workers: int = 1) -> None:
        self.config = config
        self.workers = workers  # segments beamformed at once (NumPy / SciPy work outside Python's lock)

    def __call__(self, job: SeparationJob, reporter: StageReporter | None = None) -> list[Stream]:
        guarded = job.source.per_speaker and self.config.beam_guard_db is not None
        alone = self._alone(job) if guarded else {}

        def one(target: SpeakerSegment) -> Stream:
            stream = speaker_stream(job.source, target, self.config.pad)
            return self._guarded(job, target, stream, alone.get(target.speaker, [])) if guarded else stream

        streams = []
        for stream in imap_single_threaded(one, job.targets, self.workers):  # in order: the same streams
            streams.append(stream)
            if reporter is not None:
                reporter.progress(len(streams), len(job.targets))
        return streams

    def _alone(self, job: SeparationJob) -> dict[str, list[Interval]]:
        """Speaker → where it talks alone, over the span of the job's targets (sorted intervals)."""
        if not job.targets:
            return {}
        low = min(t.start for t in job.targets) - self.config.pad
        high = max(t.end for t in job.targets) + self.config.pad
        overlap = [(a, b) for a, b in job.diarization.overlap if b > low and a < high]
        own: dict[str, list[Interval]] = {}
        for segment in job.diarization.segments:
            if segment.end > low and segment.start < high:
                own.setdefault(segment.speaker, []).append((segment.start, segment.end))
        return {speaker: subtract_intervals(spans, overlap) for speaker, spans in own.items()}

    def _guarded(self, job: SeparationJob, target: SpeakerSegment, stream: Stream, alone: list[Interval]) -> Stream:
        """``stream``, or the mixture over the same span when the beam lost its speaker's speech."""
        rate = stream.sample_rate
        first = int(round(stream.offset * rate))
        mixture = job.source(None, first, first + len(stream.audio))
        beam_power = mixture_power = 0.0
        for start, end in alone:
            a, b = max(0, int(start * rate) - first), min(len(stream.audio), int(end * rate) - first)
            if b > a:
                beam_power += float(np.sum(stream.audio[a:b].astype(np.float64) ** 2))
                mixture_power += float(np.sum(mixture[a:b].astype(np.float64) ** 2))
        if mixture_power <= 0.0:
            return stream
        ratio = 10 * np.log10(max(beam_power, 1e-12) / mixture_power)
        logger.debug("%s %.2f-%.2f: beam %.1f dB against the mixture", target.speaker, target.start, target.end, ratio)
        if ratio >= -self.config.beam_guard_db:
            return stream
        name = f"mix-{target.speaker}-{target.start:.2f}"
        return Stream(in_range(mixture), rate, name, target.speaker, stream.regions, stream.offset)


class NeuralSeparator:
    """Speaker audio + diarization → one 16 kHz stream per speaker segment, overlaps separated by a network."""

    sample_rate = 16000

    def __init__(self, config: SeparateConfig, runtime: RuntimeConfig, embedder: Embedder) -> None:
        self.config = config
        self.embedder = embedder
        name = config.model or DEFAULT_MODELS[config.kind]
        self.resolved = resolve_model(
            name, "separation", model_dir=runtime.model_dir, allow_download=runtime.allow_download
        )
        self.trust_model_code = runtime.trust_model_code
        self._references: tuple[Any, dict[str, np.ndarray]] = (None, {})

    def __call__(self, job: SeparationJob, reporter: StageReporter | None = None) -> list[Stream]:
        """With per-speaker beams, each speaker's own beam is separated and the output that matches it kept."""
        source, diarization, targets = job.source, job.diarization, job.targets
        model = load_separation(self.resolved, self.trust_model_code)
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
                    in_range(piece),
                    rate,
                    f"sep-{target.speaker}-{target.start:.2f}",
                    target.speaker,
                    [(target.start, target.end)],
                    first / rate,
                )
            )
        return streams

    def references(self, source: SpeakerSource, diarization: Diarization) -> dict[str, np.ndarray]:
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
    outputs: np.ndarray, speakers: list[str], references: dict[str, np.ndarray], embedder: Embedder
) -> dict[str, np.ndarray]:
    """Speaker → output, the assignment of highest total cosine similarity to the speakers' references.

    A speaker without a reference (it never speaks alone) scores 0 with every output, so it takes the
    output the others leave.
    """
    embeddings = [embedder(output) for output in outputs]
    score = np.zeros((len(speakers), len(outputs)))
    for row, speaker in enumerate(speakers):
        for column, embedding in enumerate(embeddings):
            if speaker in references and not np.isnan(embedding).any():
                score[row, column] = float(np.dot(references[speaker], embedding))
    return {speakers[r]: outputs[c] for r, c in matched_pairs(score)}


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
    cross-faded there. Several channels are averaged first. Files appear only when all are complete.
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
    finals = [confined(out_dir, f"{stem}.s{i + 1}.wav") for i in range(model.num_sources)]
    shared = int(overlap * rate)
    chunks = spans(start, end, chunk, overlap)
    with atomic_paths(finals) as temporaries:
        files = [sf.SoundFile(str(t), "w", rate, 1, "PCM_16", format="WAV") for t in temporaries]
        try:
            tail: np.ndarray | None = None  # the previous chunk's last `shared` samples, not yet written
            for index, (position, stop) in enumerate(chunks):
                window = resample(read_window(recording, position, stop).mean(axis=0), recording.sample_rate, rate)
                outputs = fit_to_mixture(model.separate(window, rate), window)
                if tail is not None:
                    head = outputs[:, : tail.shape[1]]
                    orders = list(itertools.permutations(range(len(outputs))))
                    best = max(
                        orders, key=lambda order: sum(float(np.dot(tail[i], head[j])) for i, j in enumerate(order))
                    )
                    outputs = outputs[list(best)]
                    joined = crossfade(tail, outputs[:, : tail.shape[1]], shared)
                    outputs = np.concatenate([joined, outputs[:, tail.shape[1] :]], axis=1)
                keep = outputs.shape[1] if index == len(chunks) - 1 else max(0, outputs.shape[1] - shared)
                for file, output in zip(files, outputs[:, :keep]):
                    file.write(np.clip(output, -1.0, 1.0))
                tail = outputs[:, keep:]
                if reporter is not None:
                    reporter.progress(index + 1, len(chunks))
        finally:
            for file in files:
                file.close()
    return finals
