"""Live transcription: words with speakers while people talk, from audio that arrives in chunks of any size.

:class:`LiveSession` keeps the audio heard so far in a temporary file (16 kHz, channels averaged; memory
stays flat however long the stream) and, every ``step`` seconds of new audio, decodes the speech not yet
settled (at most ``max_buffer`` seconds, from the end of the last settled word) with the pipeline's
Whisper. Words that two decodes in a row agree on (the longest common prefix, as whisper_streaming's
LocalAgreement-2 policy) become ``final``: sent once and never retracted; the rest go out as ``partial``
(every word is partial at least once before it is final). Words two decodes heard that end at least
``FORCE_MARGIN`` seconds before the newest audio (half that once ``max_buffer`` seconds are unsettled)
are settled even where the decodes differ, so that no word waits long.

Each group of final words (split where the speaker pauses ``SPLIT_PAUSE`` seconds) gets a speaker
online: its voiceprint (:class:`meetsep.stages.identify.VoicePrinter`, from ``MIN_EMBED_SECONDS`` of
speech) joins the speaker whose mean voiceprint it is most like when the cosine similarity reaches
``threshold``, else a new speaker starts (the count grows as people join); a shorter group keeps the
previous speaker. A word is flagged ``overlap`` where the segmentation (pyannote segmentation-3.0 on the
last 10 s) hears two people at once.

The models a session uses are loaded and run once when the first session of a pipeline starts
(:func:`warm_up`; ``meetsep serve`` does it before it listens), not while its first words wait.

At the end (:meth:`LiveSession.finish`) the rest is decoded and settled, and the whole recording, kept
with its channels in a temporary WAV file, goes once through the offline pipeline (``final="offline"``,
the default): the transcript at the end is the offline one, speakers re-clustered with the whole
recording heard. ``final="online"`` returns the live words and speakers instead (no extra pass).
"""

from __future__ import annotations

import re
import tempfile
import time
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import numpy as np

from meetsep.core.errors import AudioInputError
from meetsep.core.intervals import merge_spans
from meetsep.core.records import LanguageChoice, RecognizedWord, Stream
from meetsep.io.audio import SignalFile
from meetsep.io.resampling import StreamResampler
from meetsep.pipeline import SAMPLE_RATE, Pipeline
from meetsep.schema import ChannelLayout, LiveEvent, SpeakerSegment, TimeSpan, Transcript, Word
from meetsep.stages.asr import Recognizer
from meetsep.stages.transcript import build_turns
from meetsep.version import __version__

SPLIT_PAUSE = 0.3  # s: final words further apart than this may be different speakers
MIN_EMBED_SECONDS = 1.0  # speech a group of words needs to be given a speaker by its voice
FORCE_MARGIN = 2.0  # s: words two decodes heard this far behind the newest audio are settled
OVERLAP_WINDOW = 10.0  # s of audio the segmentation hears to flag overlapped words
LANGUAGE_SECONDS = 5.0  # s of audio a confident language vote needs before it is kept for the session


class LiveSession:
    """One live stream: :meth:`feed` chunks as they arrive, :meth:`finish` at the end.

    Args:
        pipeline: the loaded models (Whisper, CAM++, segmentation), shared by every session of a process.
        sample_rate: of the chunks fed.
        channels: of the chunks fed (averaged for the live words; all kept for the offline pass).
        layout: how the offline pass reads the channels (``auto``: as a file of that many channels would be).
        step: seconds of new audio between two decodes (2: a 10 s buffer decodes in about 0.9 s on 2 cores,
            whisper base int8 greedy; 1 s steps fell behind real time).
        max_buffer: seconds of unsettled speech at most.
        margin: words two decodes heard that end this many seconds before the newest audio are settled.
        threshold: cosine similarity from which a group of words joins a known speaker.
        final: ``offline`` (the whole recording once more through the pipeline) or ``online``.
        clock: seconds, for the events' ``emitted`` (tests give a fake one).
    """

    def __init__(
        self,
        pipeline: Pipeline,
        *,
        sample_rate: int = SAMPLE_RATE,
        channels: int = 1,
        layout: str = "auto",
        step: float = 2.0,
        max_buffer: float = 10.0,
        margin: float = FORCE_MARGIN,
        threshold: float = 0.5,
        final: Literal["offline", "online"] = "offline",
        session_id: str = "live",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if sample_rate < 8000 or sample_rate > 192000:
            raise AudioInputError(session_id, f"unsupported sample rate {sample_rate} Hz (8000-192000)")
        if channels < 1 or channels > 64:
            raise AudioInputError(session_id, f"unsupported channel count {channels} (1-64)")
        self.pipeline, self.rate, self.channels, self.layout = pipeline, sample_rate, channels, layout
        self.step, self.max_buffer, self.threshold, self.final = step, max_buffer, threshold, final
        self.margin = margin
        self.session_id, self.clock, self.started = session_id, clock, clock()
        self.heard = SignalFile()  # 16 kHz, channels averaged
        self.resampler = StreamResampler(sample_rate, SAMPLE_RATE)
        self.folder = tempfile.TemporaryDirectory(prefix="meetsep-live-")
        import soundfile as sf

        self.path = Path(self.folder.name) / "stream.flac"  # every channel, for the offline pass (24-bit FLAC)
        self.recording = sf.SoundFile(self.path, "w", samplerate=sample_rate, channels=channels, subtype="PCM_24")
        self.printer = pipeline.voice_printer
        self.recognizer = live_recognizer(pipeline)
        warm_up(pipeline)
        self.settled_until = 0.0  # s: the end of the last final word (where the next decode starts)
        self.decoded_at = 0.0  # s of 16 kHz audio at the last decode
        self.pending: list[RecognizedWord] = []  # the last decode's words after the settled ones
        self.words: list[Word] = []  # every final word
        self.sums: list[np.ndarray | None] = []  # per speaker: summed voiceprints (None: none heard long enough yet)
        self.language: LanguageChoice | None = None
        self.finished = False

    @property
    def audio_time(self) -> float:
        """Seconds of audio received (at 16 kHz)."""
        return len(self.heard) / SAMPLE_RATE

    def feed(self, chunk: np.ndarray) -> list[LiveEvent]:
        """Take ``(samples,)`` (one channel) or ``(channels, samples)`` float samples; returns the events it makes.

        Raises:
            AudioInputError: wrong shape or channel count, NaN or infinite samples, or a finished session.
        """
        if self.finished:
            raise AudioInputError(self.session_id, "the session has finished")
        chunk = np.asarray(chunk, dtype=np.float32)
        if chunk.ndim == 1 and self.channels == 1:
            chunk = chunk[None]
        if chunk.ndim != 2 or chunk.shape[0] != self.channels:
            raise AudioInputError(self.session_id, f"chunk of shape {chunk.shape}; expected ({self.channels}, samples)")
        if not np.all(np.isfinite(chunk)):
            raise AudioInputError(self.session_id, "NaN or infinite samples")
        self.recording.write(np.clip(chunk, -1.0, 1.0).T)
        self.heard.append(self.resampler.push(chunk.mean(axis=0)))
        if self.audio_time - self.decoded_at >= self.step:
            return self._decode(last=False)
        return []

    def finish(self) -> tuple[list[LiveEvent], Transcript]:
        """Settle every word left and make the end transcript; returns the last events (``end`` last) and it."""
        if self.finished:
            raise AudioInputError(self.session_id, "the session has finished")
        self.heard.append(self.resampler.finish())
        events = self._decode(last=True)
        self.recording.close()  # the kept recording is complete: the offline pass reads it
        try:
            if self.final == "offline" and self.audio_time > 0:
                transcript = self.pipeline(self.path, layout=self.layout, session_id=self.session_id)
            else:
                transcript = self._online_transcript()
        finally:
            self.close()
        events.append(self._event("end", transcript=transcript))
        return events, transcript

    def close(self) -> None:
        """End the session (without a transcript: a client that went away); its temporary files are removed."""
        if not self.finished:
            self.finished = True
            self.recording.close()
            self.heard.close()
            self.folder.cleanup()

    def _event(self, kind: str, **fields: object) -> LiveEvent:
        return LiveEvent(
            type=kind, audio_time=round(self.audio_time, 3), emitted=round(self.clock() - self.started, 3), **fields
        )

    def _decode(self, last: bool) -> list[LiveEvent]:
        """Decode the unsettled speech; settle what two decodes agree on (everything when ``last``)."""
        self.decoded_at = now = self.audio_time
        if now - self.settled_until < 0.3:
            return []
        heard = self._recognize(self.settled_until, now)
        events = []
        if last:  # everything settles; what no partial showed yet is shown as partial first
            agreed = len(heard)
            fresh = heard[len(self.pending) :]
            if fresh:
                events.append(self._event("partial", words=[_word(w, "", False) for w in fresh]))
        else:
            agreed = _common_prefix(self.pending, heard)
            # words the last decode heard too (sent as partial then) and well behind the newest audio are
            # settled even where the decodes differ (Whisper rarely revises them): a word waits about
            # FORCE_MARGIN + step at most; with a full buffer less
            margin = self.margin if now - self.settled_until <= self.max_buffer else self.margin / 2
            while agreed < min(len(heard), len(self.pending)) and heard[agreed].end <= now - margin:
                agreed += 1
        settled, self.pending = heard[:agreed], heard[agreed:]
        events += self._settle(settled) if settled else []
        if settled:
            self.settled_until = max(self.settled_until, settled[-1].end)
        elif not heard and now - self.settled_until > 3.0:
            self.settled_until = now - 1.0  # silence: keep only the last second as context
        if self.pending and not last:
            partial = [_word(w, "", False) for w in self.pending]
            events.append(self._event("partial", words=partial))
        return events

    def _recognize(self, start: float, end: float) -> list[RecognizedWord]:
        """Whisper's words between ``start`` and ``end`` seconds (recording time)."""
        first = int(round(start * SAMPLE_RATE))
        audio = self.heard[first : int(round(end * SAMPLE_RATE))]
        stream = Stream(audio, SAMPLE_RATE, "live", regions=[(start, end)], offset=first / SAMPLE_RATE)
        recognizer = self.recognizer
        language = self.language
        if language is None:  # identified on what is heard until a confident vote; then kept for the session
            language = recognizer.identify_language([stream])
            if not language.fallback and (not recognizer.identifies_language or end - start >= LANGUAGE_SECONDS):
                self.language = language
        words = recognizer([stream], language=language).words
        return [w for w in words if w.start >= start - 0.05]

    def _settle(self, settled: list[RecognizedWord]) -> list[LiveEvent]:
        """Final events for newly settled words: speakers by voice, overlap by the segmentation."""
        overlapped = self._overlap(settled[0].start, settled[-1].end)
        events: list[LiveEvent] = []
        for group in _groups(settled):
            start, end = group[0].start, group[-1].end
            speaker = self.words[-1].speaker if self.words else None
            if end - start >= MIN_EMBED_SECONDS or speaker is None:
                voiceprint = self.printer(self.heard, [(start, end)])
                if voiceprint is not None or speaker is None:
                    speaker, new = self._speaker(voiceprint.vector if voiceprint is not None else None)
                    if new:
                        events.append(self._event("speaker", speaker=speaker))
            words = [_word(w, speaker, any(a < w.end and w.start < b for a, b in overlapped)) for w in group]
            self.words += words
            events.append(self._event("final", words=words, speaker=speaker))
        return events

    def _speaker(self, vector: np.ndarray | None) -> tuple[str, bool]:
        """The speaker a voiceprint belongs to (a new one when none is similar enough), and whether it is new."""
        known = [index for index, total in enumerate(self.sums) if total is not None]
        if vector is not None and known:
            means = np.stack([self.sums[i] / (np.linalg.norm(self.sums[i]) + 1e-12) for i in known])
            scores = means @ vector
            best = known[int(np.argmax(scores))]
            if scores.max() >= self.threshold:
                self.sums[best] = self.sums[best] + vector
                return f"SPEAKER_{best:02d}", False
        empty = [index for index, total in enumerate(self.sums) if total is None]
        if vector is not None and empty:  # the first speaker, heard only briefly until now
            index = empty[0]
            self.sums[index] = vector
            return f"SPEAKER_{index:02d}", False
        self.sums.append(vector)
        return f"SPEAKER_{len(self.sums) - 1:02d}", True

    def _overlap(self, start: float, end: float) -> list[tuple[float, float]]:
        """Where the segmentation hears two or more people, in the last ``OVERLAP_WINDOW`` s up to ``end``."""
        first = max(0.0, min(start, end - OVERLAP_WINDOW))
        audio = self.heard[int(first * SAMPLE_RATE) : int(round(end * SAMPLE_RATE))]
        if len(audio) < SAMPLE_RATE:
            return []
        found = self.pipeline.segmenter(np.asarray(audio))
        return [(first + a, first + b) for a, b in found.overlap]

    def _online_transcript(self) -> Transcript:
        """The live words and speakers as a transcript (``final="online"``)."""
        spans: dict[str, list[tuple[float, float]]] = {}
        for word in self.words:
            spans.setdefault(word.speaker, []).append((word.start, word.end))
        diarization = sorted(
            (
                SpeakerSegment(speaker=name, start=a, end=b)
                for name, own in spans.items()
                for a, b in merge_spans(own, 0.5)
            ),
            key=lambda s: (s.start, s.end, s.speaker),
        )
        overlaps = merge_spans((w.start, w.end) for w in self.words if w.overlap)
        return Transcript(
            session_id=self.session_id,
            duration=round(self.audio_time, 3),
            layout=ChannelLayout.MONO,
            language=self.language.code if self.language else None,
            language_probability=self.language.probability if self.language else None,
            speakers=sorted(spans),
            turns=build_turns(self.words),
            diarization=diarization,
            overlaps=[TimeSpan(start=a, end=b) for a, b in overlaps],
            meetsep_version=__version__,
            config_hash=self.pipeline.config.config_hash(),
        )


def live_recognizer(pipeline: Pipeline) -> Recognizer:
    """Whisper as live sessions use it: greedy, one decoder on every thread (one buffer at a time), each
    buffer padded to Whisper's 30 s (``asr.short_windows`` lost words and speakers live: README "Live
    transcription"). The offline pass at the end keeps the pipeline's own settings."""
    config = pipeline.config
    return Recognizer(
        config.asr.model_copy(update={"beam_size": 1, "short_windows": False}),
        config.runtime.model_copy(update={"threads": pipeline.threads, "asr_workers": 1}),
    )


def warm_up(pipeline: Pipeline) -> None:
    """Load the models live sessions use and run each once, on two seconds of faint noise (once per
    pipeline; :class:`LiveSession` calls it, ``meetsep serve`` before it listens): otherwise the first
    session's first words wait for them (about 4 s on 2 cores: segmentation, CAM++, Whisper's first call)."""
    if pipeline in _WARMED:
        return
    noise = (np.random.default_rng(0).standard_normal(2 * SAMPLE_RATE) * 1e-3).astype(np.float32)
    pipeline.segmenter(noise)
    pipeline.voice_printer(noise, [(0.0, 2.0)])
    stream = Stream(noise, SAMPLE_RATE, "warm-up", regions=[(0.0, 2.0)], offset=0.0)
    live_recognizer(pipeline)([stream], language=LanguageChoice("en", 1.0))
    _WARMED.add(pipeline)


_WARMED: weakref.WeakSet[Pipeline] = weakref.WeakSet()


def _normalized(text: str) -> str:
    return re.sub(r"[^\w']+", "", text.lower())


def _common_prefix(before: list[RecognizedWord], now: list[RecognizedWord]) -> int:
    """How many words two decodes agree on, from the start (by their text, case and punctuation aside)."""
    count = 0
    for a, b in zip(before, now):
        if _normalized(a.text) != _normalized(b.text):
            break
        count += 1
    return count


def _groups(words: list[RecognizedWord]) -> list[list[RecognizedWord]]:
    """Consecutive words, split where a pause of at least ``SPLIT_PAUSE`` seconds may change the speaker."""
    groups: list[list[RecognizedWord]] = []
    for word in words:
        if groups and word.start - groups[-1][-1].end < SPLIT_PAUSE:
            groups[-1].append(word)
        else:
            groups.append([word])
    return groups


def _word(word: RecognizedWord, speaker: str, overlap: bool) -> Word:
    return Word(
        text=word.text,
        start=word.start,
        end=word.end,
        speaker=speaker,
        probability=word.probability,
        overlap=overlap,
        stream="live",
    )
