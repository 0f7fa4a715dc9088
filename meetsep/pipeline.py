"""The pipeline: a readable list of stages, models loaded once and reused across recordings.

    recording ─► beamform ─► segment ─► asr ─► attribute ─► transcript
    with separation (gss, convtasnet, sepformer) or MVDR speaker beams:
        beamform ─► segment ─► attribute (diarize) ─► [speaker beams] ─► separate ─► asr per stream

Call-center stereo (``stereo-speakers``) runs segment and ASR per channel and attributes by channel.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from meetsep.asr import AsrResult, Recognizer
from meetsep.attribute import (
    Attributor,
    assign_words,
    attribute_channels,
    drop_cross_stream_duplicates,
    frame_levels_db,
    own_speech,
)
from meetsep.audio import SignalFile, load_recording, read_all, resample, resample_blocks
from meetsep.beamform import Beamformer, SpeakerBeams
from meetsep.config import PipelineConfig, load_config, option_overrides
from meetsep.hooks import Hook, no_hook, stage
from meetsep.segment import Segmenter
from meetsep.separate import BeamStreams, GuidedSeparator, NeuralSeparator, SpeakerAudio, merge_segments
from meetsep.transcript import build_transcript
from meetsep.types import ChannelLayout, Recording, SpeakerSegment, Stream, Transcript

SAMPLE_RATE = 16000
BATCH_SECONDS = 300.0  # separated streams are made and transcribed this much recording at a time


def target_batches(targets: list[SpeakerSegment], seconds: float) -> list[list[SpeakerSegment]]:
    """Consecutive runs of targets (sorted by start) whose starts lie within ``seconds`` of the run's first."""
    batches: list[list[SpeakerSegment]] = []
    for target in targets:
        if batches and target.start - batches[-1][0].start < seconds:
            batches[-1].append(target)
        else:
            batches.append([target])
    return batches


class Pipeline:
    """Transcribe many recordings with one set of loaded models.

    Args:
        config: the full configuration (default: all defaults).
    """

    def __init__(self, config: PipelineConfig | None = None) -> None:
        self.config = config or PipelineConfig()
        runtime = self.config.runtime
        self.threads = runtime.threads or os.cpu_count() or 1
        import torch

        torch.set_num_threads(self.threads)
        self.beamformer = Beamformer(self.config.beamform)
        self.segmenter = Segmenter(self.config.segment, runtime)
        self.recognizer = Recognizer(self.config.asr, runtime.model_copy(update={"threads": self.threads}))
        self.attributor = Attributor(self.config.attribute, runtime)
        kind = self.config.separate.kind
        if kind == "gss":
            self.separator: GuidedSeparator | NeuralSeparator | None = GuidedSeparator(self.config.separate)
        elif kind in ("convtasnet", "sepformer"):
            self.separator = NeuralSeparator(self.config.separate, runtime, self.attributor.embedder)
        else:
            self.separator = None
        # per-speaker MVDR beams feed ASR (or the network, or GSS's non-overlapped segments) with each speaker's own beam
        gss_everywhere = kind == "gss" and not self.config.separate.gss_overlapped_only
        self.speaker_beams = (
            SpeakerBeams(self.config.beamform, self.threads)
            if self.config.beamform.kind == "mvdr" and not gss_everywhere
            else None
        )
        rates = {self.segmenter.sample_rate, self.recognizer.sample_rate, self.attributor.embedder.sample_rate}
        if rates != {SAMPLE_RATE}:
            raise ValueError(f"stages disagree on sample rate: {sorted(rates)}")

    def __call__(
        self,
        source: str | Path | np.ndarray | Recording,
        *,
        sample_rate: int | None = None,
        layout: str | None = None,
        session_id: str | None = None,
        hook: Hook = no_hook,
    ) -> Transcript:
        """Transcribe a file, an array ``(channels, samples)`` (give ``sample_rate``) or a Recording."""
        import torch

        torch.manual_seed(self.config.runtime.seed)
        audio_config = self.config.audio
        if isinstance(source, Recording):
            recording = source
        else:
            recording = load_recording(
                source,
                sample_rate=sample_rate,
                layout=layout or audio_config.layout,
                session_id=session_id,
                mic_positions=audio_config.mic_positions,
            )
        if recording.layout is ChannelLayout.STEREO_SPEAKERS:
            return self._call_center(recording, hook)
        return self._mixture(recording, hook)

    def _mixture(self, recording: Recording, hook: Hook) -> Transcript:
        sid = recording.session_id
        with stage(hook, "beamform", sid):
            audio = self._mixture_signal(recording)
        try:
            return self._transcribe_mixture(recording, audio, hook)
        finally:
            audio.close()

    def _mixture_signal(self, recording: Recording) -> SignalFile:
        """The (beamformed) mono mixture at 16 kHz, made and resampled block by block into a temporary
        file: every stage reads the windows it needs, so memory does not grow with the recording."""
        return SignalFile(resample_blocks(self.beamformer.blocks(recording), recording.sample_rate, SAMPLE_RATE))

    def _transcribe_mixture(self, recording: Recording, audio: SignalFile, hook: Hook) -> Transcript:
        sid = recording.session_id
        with stage(hook, "segment", sid) as report:
            segmentation = self.segmenter(audio, report)
        array = recording.layout is ChannelLayout.ARRAY
        separator, beams = self.separator, self.speaker_beams if array else None
        if separator is not None or beams is not None:
            # separation and speaker beams need the diarization first: who speaks when guides them
            with stage(hook, "attribute", sid) as report:
                diarization = self.attributor.diarize(audio, segmentation, report, recording)
            source = SpeakerAudio(audio)
            if beams is not None:
                with stage(hook, "beams", sid):
                    source = SpeakerAudio(audio, recording, beams.fit(recording, diarization), beams)
            separate = separator or BeamStreams(self.config.separate)
            recognized, language = [], None
            for batch in target_batches(
                merge_segments(diarization.segments, self.config.separate.merge_gap), BATCH_SECONDS
            ):
                with stage(hook, "separate", sid) as report:
                    streams = separate(recording, source, diarization, batch, report)
                with stage(hook, "asr", sid) as report:
                    asr = self.recognizer(streams, report, language)
                recognized += asr.words
                language = asr.language
            asr = AsrResult(words=sorted(recognized, key=lambda w: (w.start, w.end, w.stream)), language=language)
            words = drop_cross_stream_duplicates(assign_words(asr.words, diarization), diarization)
        else:
            with stage(hook, "asr", sid) as report:
                asr = self.recognizer([Stream(audio, SAMPLE_RATE, "mix", regions=segmentation.speech)], report)
            with stage(hook, "attribute", sid) as report:
                diarization, words = self.attributor(audio, segmentation, asr.words, report, recording)
        return build_transcript(
            session_id=sid,
            duration=recording.duration,
            layout=recording.layout,
            language=asr.language,
            diarization=diarization,
            words=words,
            config_hash=self.config.config_hash(),
        )

    def _call_center(self, recording: Recording, hook: Hook) -> Transcript:
        sid = recording.session_id
        names = self.config.audio.channel_speakers or ["channel-0", "channel-1"]
        with stage(hook, "beamform", sid):
            channels = resample(read_all(recording), recording.sample_rate, SAMPLE_RATE)
            levels = frame_levels_db(channels, SAMPLE_RATE)
            dominance = {names[0]: levels[0] - levels[1], names[1]: levels[1] - levels[0]}
        margin = self.config.attribute.crosstalk_margin_db
        streams = []
        with stage(hook, "segment", sid) as report:
            for index, name in enumerate(names):
                segmentation = self.segmenter(channels[index], report)
                regions = own_speech(segmentation.speech, dominance[name] > -margin)
                streams.append(Stream(channels[index], SAMPLE_RATE, f"channel-{index}", speaker=name, regions=regions))
        with stage(hook, "asr", sid) as report:
            asr = self.recognizer(streams, report)
        with stage(hook, "attribute", sid):
            diarization, words = attribute_channels(
                asr.words, {s.speaker: s.regions for s in streams}, dominance, margin
            )
        return build_transcript(
            session_id=sid,
            duration=recording.duration,
            layout=recording.layout,
            language=asr.language,
            diarization=diarization,
            words=words,
            config_hash=self.config.config_hash(),
        )


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
    config: PipelineConfig | str | Path | None = None,
    overrides: dict[str, Any] | None = None,
    hook: Hook = no_hook,
) -> Transcript:
    """Transcribe one recording; the same names as ``meetsep transcribe``.

    Pipelines are cached per effective config, so repeated calls reuse loaded models.
    """
    if isinstance(config, PipelineConfig):
        base = config
    else:
        base = load_config([config] if config else [])
    merged = {
        **(overrides or {}),
        **option_overrides(
            num_speakers=num_speakers,
            min_speakers=min_speakers,
            max_speakers=max_speakers,
            layout=layout,
            beamforming=beamforming,
            separation=separation,
        ),
    }
    effective = load_config([], {**_flatten(base.model_dump(mode="json")), **merged}) if merged else base
    key = effective.config_hash()
    if key not in _PIPELINES:
        _PIPELINES[key] = Pipeline(effective)
    return _PIPELINES[key](source, sample_rate=sample_rate, hook=hook)


def _flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in data.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, path + "."))
        else:
            flat[path] = value
    return flat
