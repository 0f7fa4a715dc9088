"""The pipeline: the stages wired together, models loaded once and reused across recordings.

One readable list of stage calls per layout; every signal operation happens inside a stage::

    mixture (mono / array, no speaker streams):
        beamform ─► segment ─► asr (mixture) ─► embed + diarize ─► assign ─► transcript
    a given who-spoke-when (``diarization=``, an RTTM file) replaces segment and embed + diarize;
    with speaker beams (array, beamform.kind=mvdr) or separation (gss, convtasnet, sepformer):
        beamform ─► segment ─► embed + diarize ─► spatial ─► [dereverb] ─► beams ─► [separate ─► asr] per batch ─► ...
    call-center stereo (stereo-speakers):
        channels ─► segment per channel ─► asr per channel ─► channels (crosstalk dropped) ─► transcript
    every layout, with ``attribute.speaker_db`` or ``attribute.voiceprints``: ... ─► identify ─► transcript
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from meetsep.core.chunking import group_by_time
from meetsep.core.config import PipelineConfig
from meetsep.core.errors import ConfigError
from meetsep.core.hooks import Hook, no_hook, release_free_memory, stage
from meetsep.core.intervals import merge_segments, merge_spans, overlapping_parts, subtract_intervals
from meetsep.core.logs import logger
from meetsep.core.overrides import flatten
from meetsep.core.presets import load_config, option_overrides
from meetsep.core.protocols import Separator, Signal, SpeakerSource
from meetsep.core.records import (
    AsrResult,
    AttributedWord,
    Diarization,
    HeldSpeech,
    LanguageChoice,
    MixtureSource,
    Recording,
    SegmentationResult,
    SeparationJob,
    SpeakerNames,
    Stream,
)
from meetsep.io.audio import SignalFile, channel_signals, load_recording, resample_blocks
from meetsep.io.rttm import read_rttm
from meetsep.schema import ChannelLayout, SpeakerSegment, Transcript
from meetsep.stages.asr import Recognizer, language_sample
from meetsep.stages.assign import WordAssigner
from meetsep.stages.beamform import Beamformer
from meetsep.stages.beams import SpeakerBeams
from meetsep.stages.channels import CallChannels
from meetsep.stages.dereverb import Dereverberator
from meetsep.stages.diarize import DiarizationDetail, Diarizer
from meetsep.stages.embedding import SpatialFeatures, SpeakerEmbedder, VoiceAndPlaceEmbedder
from meetsep.stages.gss import GuidedSeparator
from meetsep.stages.identify import SpeakerIdentifier, VoicePrinter
from meetsep.stages.segment import Segmenter
from meetsep.stages.separate import BeamStreams, NeuralSeparator, separate_file
from meetsep.stages.spatial import SpatialActivity
from meetsep.stages.transcript import build_transcript

__all__ = ["Pipeline", "separate_file", "transcribe"]

SAMPLE_RATE = 16000
BATCH_SECONDS = 300.0  # separated streams are made and transcribed this much recording at a time
MIN_UNCOVERED_SECONDS = 0.3  # speech no speaker covers, decoded from the mixture when at least this long


class Pipeline:
    """Transcribe many recordings with one set of loaded models (``config``: all defaults when None)."""

    def __init__(self, config: PipelineConfig | None = None) -> None:
        self.config = config = config or PipelineConfig()
        self.threads = config.runtime.threads or os.cpu_count() or 1
        import torch

        torch.set_num_threads(self.threads)
        runtime = config.runtime.model_copy(update={"threads": self.threads})
        self.beamformer = Beamformer(config.beamform)
        self.segmenter = Segmenter(config.segment, config.runtime)
        self.embedder = SpeakerEmbedder(config.attribute, config.runtime)
        self.diarizer = Diarizer(config.attribute)
        self.spatial = SpatialActivity(config.attribute, config.beamform.fft_size, config.beamform.hop)
        self.recognizer = Recognizer(config.asr, runtime)
        self.assigner = WordAssigner()
        self.identifier = None  # a bad speaker database is an error now, not after the first recording
        if config.attribute.speaker_db or config.attribute.voiceprints:
            self.identifier = SpeakerIdentifier(config.attribute, self.voice_printer)
        kind = config.separate.kind
        # per-speaker MVDR beams feed ASR (or the network, or GSS's non-overlapped segments)
        gss_everywhere = kind == "gss" and not config.separate.gss_overlapped_only
        beams = config.beamform.kind == "mvdr" and not gss_everywhere
        self.speaker_beams = SpeakerBeams(config.beamform, self.threads) if beams else None
        self.separator: Separator | None = None
        if kind == "gss":
            self.separator = GuidedSeparator(config.separate)
        elif kind in ("convtasnet", "sepformer"):
            self.separator = NeuralSeparator(config.separate, config.runtime, self.embedder)
        rates = {self.segmenter.sample_rate, self.recognizer.sample_rate, self.embedder.sample_rate}
        if rates != {SAMPLE_RATE}:
            raise ValueError(f"stages disagree on sample rate: {sorted(rates)}")

    @property
    def voice_printer(self) -> VoicePrinter:
        """Voiceprints of speech (enrollment, identification) with this pipeline's embedding model."""
        return VoicePrinter(self.embedder, self.embedder.model_id)

    def __call__(
        self,
        source: str | Path | np.ndarray | Recording,
        *,
        sample_rate: int | None = None,
        layout: str | None = None,
        session_id: str | None = None,
        diarization: str | Path | list[SpeakerSegment] | None = None,
        hook: Hook = no_hook,
    ) -> Transcript:
        """Transcribe a file, an array ``(channels, samples)`` (give ``sample_rate``) or a Recording.

        ``diarization``: who spoke when, given (an RTTM file, :mod:`meetsep.io.rttm`, or speaker
        segments): the chain runs on it instead of its own segmentation and clustering (mono and
        array layouts; a stereo-speakers call's channels are its speakers).
        """
        recording = self._recording(source, sample_rate, layout, session_id)
        given = None
        if diarization is not None:
            if recording.layout is ChannelLayout.STEREO_SPEAKERS:
                raise ConfigError(
                    "a given diarization needs the mono or array layout (stereo-speakers: one speaker per channel)"
                )
            if isinstance(diarization, (str, Path)):
                diarization = read_rttm(diarization, recording.session_id, recording.duration)
            given = Diarization(diarization, [], overlapping_parts(diarization))
        logger.info(
            "%s: %s, %.1f s, %d channel(s) at %d Hz",
            recording.source,
            recording.layout.value,
            recording.duration,
            recording.num_channels,
            recording.sample_rate,
        )
        if recording.layout is ChannelLayout.STEREO_SPEAKERS:
            try:
                return self._call_center(recording, hook)
            finally:
                release_free_memory()  # a worker's next recording starts from what this one left
        with stage(hook, "beamform", recording.session_id):
            # the (beamformed) 16 kHz mixture, made block by block into a temporary file: every
            # stage reads the windows it needs, so memory does not grow with the recording
            mixture = SignalFile(resample_blocks(self.beamformer.blocks(recording), recording.sample_rate, SAMPLE_RATE))
        try:
            with tempfile.TemporaryDirectory(prefix="meetsep-") as scratch:
                return self._mixture(recording, mixture, hook, Path(scratch), given)
        finally:
            mixture.close()
            release_free_memory()

    def _recording(
        self,
        source: str | Path | np.ndarray | Recording,
        sample_rate: int | None,
        layout: str | None,
        session_id: str | None,
    ) -> Recording:
        """The source as a :class:`Recording` (files read lazily), with torch seeded for this run."""
        import torch

        torch.manual_seed(self.config.runtime.seed)
        if isinstance(source, Recording):
            return source
        return load_recording(
            source,
            sample_rate=sample_rate,
            layout=layout or self.config.audio.layout,
            session_id=session_id,
            mic_positions=self.config.audio.mic_positions,
        )

    def _mixture(
        self, recording: Recording, mixture: SignalFile, hook: Hook, scratch: Path, given: Diarization | None
    ) -> Transcript:
        sid = recording.session_id
        if given is None:
            with stage(hook, "segment", sid) as report:
                segmentation = self.segmenter(mixture, report)
            speech = segmentation.speech
        else:  # speech is where the given diarization has someone
            speech = merge_spans((s.start, s.end) for s in given.segments)
        beams = self.speaker_beams if recording.layout is ChannelLayout.ARRAY else None
        if self.separator is None and beams is None:
            with stage(hook, "asr", sid) as report:
                asr = self.recognizer([Stream(mixture, SAMPLE_RATE, "mix", regions=speech)], report)
            diarization = given or self._who_when(recording, mixture, segmentation, hook).diarization
            words = self.assigner(asr.words, diarization)
            return self._transcript(
                recording, asr.language, diarization, words, self._names(mixture, diarization, hook, sid)
            )
        # separation and speaker beams need the diarization first: who speaks when guides them
        diarization = given or self._who_when(recording, mixture, segmentation, hook).diarization
        release_free_memory()
        source: SpeakerSource = MixtureSource(mixture)
        if beams is not None:
            heard = recording
            if self.config.beamform.dereverb == "wpe":
                with stage(hook, "dereverb", sid):
                    heard = Dereverberator()(recording, scratch)
            with stage(hook, "beams", sid):
                source = beams(heard, diarization, mixture)
            release_free_memory()
        separate = self.separator or BeamStreams(self.config.separate, self.threads)
        targets = merge_segments(diarization.segments, self.config.separate.merge_gap)
        language = None
        if self.recognizer.identifies_language:
            with stage(hook, "asr", sid):  # one language for the whole recording, heard over its speakers
                sample = language_sample(targets, self.config.asr.language_packs)
                language = self.recognizer.identify_language(
                    separate(SeparationJob(recording, source, diarization, sample))
                )
        recognized = []
        held = HeldSpeech()  # each speaker's unfilled last pack waits for the next batch's speech
        batches = group_by_time(targets, BATCH_SECONDS, start=lambda segment: segment.start)
        for number, batch in enumerate(batches, 1):
            with stage(hook, "separate", sid) as report:
                streams = separate(SeparationJob(recording, source, diarization, batch), report)
            release_free_memory()  # the beams' spectra are gone, the streams stay: ASR starts from less
            with stage(hook, "asr", sid) as report:
                asr = self.recognizer(streams, report, language, held, last=number == len(batches))
            recognized += asr.words
            language = asr.language
            release_free_memory()  # the batch's streams are gone: their pages go back to the system
        # speech the segmentation found but no diarized speaker covers is decoded from the mixture,
        # so that no word is lost to a unit the clustering left out
        uncovered = [
            (start, end)
            for start, end in subtract_intervals(speech, [(s.start, s.end) for s in diarization.segments])
            if end - start >= MIN_UNCOVERED_SECONDS
        ]
        if uncovered:
            with stage(hook, "asr", sid) as report:
                recognized += self.recognizer(
                    [Stream(mixture, SAMPLE_RATE, "mix", regions=uncovered)], report, language
                ).words
        asr = AsrResult(words=sorted(recognized, key=lambda w: (w.start, w.end, w.stream)), language=language)
        words = self.assigner(asr.words, diarization, separated=True)
        return self._transcript(
            recording, asr.language, diarization, words, self._names(mixture, diarization, hook, sid)
        )

    def _who_when(
        self, recording: Recording, audio: Signal, seg: SegmentationResult, hook: Hook, keep: bool = False
    ) -> DiarizationDetail:
        """embed + diarize, then the spatial pass on an array's speaker streams; units, embeddings kept if ``keep``."""
        with stage(hook, "attribute", recording.session_id) as report:
            detail = self.diarizer.detail(audio, seg, self._unit_embedder(recording), report)
        detail = detail if keep else replace(detail, units=None, embeddings=None)  # an hour of 8 mics: ~250 MB
        release_free_memory()  # the embedding's blocks and the clustering's copies: before the spatial pass
        streams = self.speaker_beams or self.separator  # chosen and measured with speaker streams only
        if self.config.attribute.spatial_pass and streams and recording.layout is ChannelLayout.ARRAY:
            with stage(hook, "spatial", recording.session_id):
                detail = replace(detail, diarization=self.spatial(recording, detail.diarization))
        return detail

    def _names(
        self, audio: Signal | dict[str, Signal], diarization: Diarization, hook: Hook, sid: str
    ) -> SpeakerNames | None:
        """Speakers' voiceprints, matched to the enrolled voices (``attribute.speaker_db``), when asked."""
        if self.identifier is None:
            return None
        with stage(hook, "identify", sid):
            return self.identifier(audio, diarization)

    def _unit_embedder(self, recording: Recording) -> VoiceAndPlaceEmbedder:
        """Voice embeddings, joined by where the speech comes from on an array when asked."""
        config = self.config.attribute
        use_space = recording.layout is ChannelLayout.ARRAY and config.spatial_weight > 0
        return VoiceAndPlaceEmbedder(self.embedder, config, SpatialFeatures(recording) if use_space else None)

    def _call_center(self, recording: Recording, hook: Hook) -> Transcript:
        sid = recording.session_id
        channels = CallChannels(self.config.attribute, self.config.audio.channel_speakers or ["channel-0", "channel-1"])
        audio: list[SignalFile] = []
        try:
            with stage(hook, "beamform", sid):
                # each channel at 16 kHz in a temporary file, made block by block: a long call is never in memory
                audio = channel_signals(recording, SAMPLE_RATE)
                dominance = channels.dominance(audio)
            with stage(hook, "segment", sid) as report:
                segmentations = [self.segmenter(channel, report) for channel in audio]
                streams = channels.streams(audio, segmentations, dominance)
            with stage(hook, "asr", sid) as report:
                asr = self.recognizer(streams, report)
            with stage(hook, "attribute", sid):
                diarization, words = channels.attribute(asr.words, streams, dominance)
            names = self._names(dict(zip(channels.names, audio)), diarization, hook, sid)  # each from its channel
        finally:
            for signal in audio:
                signal.close()
        return self._transcript(recording, asr.language, diarization, words, names)

    def _transcript(
        self,
        recording: Recording,
        language: LanguageChoice | None,
        diarization: Diarization,
        words: list[AttributedWord],
        names: SpeakerNames | None = None,
    ) -> Transcript:
        return build_transcript(
            session_id=recording.session_id,
            duration=recording.duration,
            layout=recording.layout,
            language=language,
            diarization=diarization,
            words=words,
            config_hash=self.config.config_hash(),
            names=names,
        )

    def diarize(
        self,
        source: str | Path | np.ndarray | Recording,
        *,
        sample_rate: int | None = None,
        layout: str | None = None,
        session_id: str | None = None,
        mixture: np.ndarray | None = None,
        hook: Hook = no_hook,
    ) -> DiarizationDetail:
        """Who speaks when, without ASR: the front half of the chain as :meth:`__call__` runs it on a mono
        or array recording (beamform → segment → embed + diarize → spatial with speaker streams).

        Returns the 16 kHz mixture (a :class:`meetsep.io.audio.SignalFile` unless ``mixture`` was given), its
        segmentation, the units and embeddings clustered and the diarization (:class:`DiarizationDetail`).

        Args:
            source, sample_rate, layout, session_id, hook: as for :meth:`__call__`.
            mixture: ``(samples,)`` float32 at 16 kHz to segment and embed instead of the beamformer's
                (e.g. dereverberated channels, averaged); where speech comes from is still heard on ``source``.
        """
        recording = self._recording(source, sample_rate, layout, session_id)
        if recording.layout is ChannelLayout.STEREO_SPEAKERS:
            raise ValueError("stereo-speakers recordings are attributed by channel, not diarized")
        sid = recording.session_id
        signal: SignalFile | np.ndarray
        if mixture is None:  # block by block into a temporary file: memory does not grow with the recording
            with stage(hook, "beamform", sid):
                signal = SignalFile(
                    resample_blocks(self.beamformer.blocks(recording), recording.sample_rate, SAMPLE_RATE)
                )
        else:
            signal = np.asarray(mixture, dtype=np.float32)
        with stage(hook, "segment", sid) as report:
            segmentation = self.segmenter(signal, report)
        return self._who_when(recording, signal, segmentation, hook, keep=True)


_PIPELINES: dict[str, Pipeline] = {}


def transcribe(
    source: str | Path | np.ndarray,
    *,
    sample_rate: int | None = None,
    layout: str | None = None,
    num_speakers: int | None = None,
    min_speakers: int | None = None,
    max_speakers: int | None = None,
    beamforming: str | None = None,
    separation: str | None = None,
    speakers: str | Path | None = None,
    config: PipelineConfig | str | Path | None = None,
    overrides: dict[str, Any] | None = None,
    diarization: str | Path | list[SpeakerSegment] | None = None,
    hook: Hook = no_hook,
) -> Transcript:
    """Transcribe one recording; the same names as ``meetsep transcribe``.

    Pipelines are cached per effective config, so repeated calls reuse loaded models.
    """
    base = config if isinstance(config, PipelineConfig) else load_config([config] if config else [])
    merged = {
        **(overrides or {}),
        **option_overrides(
            num_speakers=num_speakers,
            min_speakers=min_speakers,
            max_speakers=max_speakers,
            layout=layout,
            beamforming=beamforming,
            separation=separation,
            speakers=str(speakers) if speakers is not None else None,
        ),
    }
    effective = load_config([], {**flatten(base.model_dump(mode="json")), **merged}) if merged else base
    key = effective.config_hash()
    if key not in _PIPELINES:
        _PIPELINES[key] = Pipeline(effective)
    return _PIPELINES[key](source, sample_rate=sample_rate, diarization=diarization, hook=hook)
