"""Stage 6: Whisper speech recognition with word timestamps, on speech windows of each stream.

Speech regions of a stream are merged into pieces (regions closer than ``asr.merge_gap`` share
one), padded by ``asr.padding``. Pieces of the same speaker (or of the same stream, when it has no
speaker) are then packed, in time order, into windows of at most ``asr.max_window`` seconds with
``asr.pack_gap`` seconds of silence between them; each pack is transcribed once and its words are
mapped back to recording time. Whisper's encoder always sees 30 s, so packing short turns (one per
speaker segment with separation or speaker beams) saves most of the encoder passes; silence is
never decoded (no hallucinated text), and memory does not grow with the recording.

Decoding is deterministic: temperature 0 only (no sampling fallback), beam search or greedy, no
conditioning on previous text. Two backends run the same shipped weights:

- ``faster-whisper`` (CTranslate2; default, int8 on CPU). Packs are independent, so several are
  decoded at once (``runtime.asr_workers``, each on a share of ``runtime.threads``): one
  CTranslate2 decoder keeps about 1.5 of 2 cores busy, two single-threaded ones keep both busy;
  the words are the same;
- ``openai-whisper`` (PyTorch; CTranslate2 weights converted once by ``meetsep models convert-whisper``).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from meetsep.core.config import AsrConfig, RuntimeConfig
from meetsep.core.hooks import StageReporter
from meetsep.core.logs import logger
from meetsep.core.parallel import imap_single_threaded
from meetsep.core.records import AsrResult, HeldSpeech, Interval, LanguageChoice, Piece, RecognizedWord, Stream
from meetsep.loading.encoder_reuse import short_windows, vote_encodings
from meetsep.loading.models import (
    load_faster_whisper,
    load_openai_whisper_model,
    openai_whisper_checkpoint,
    resolve_model,
)
from meetsep.schema import SpeakerSegment


def speech_windows(regions: list[Interval], max_window: float, merge_gap: float) -> list[Interval]:
    """Merge sorted speech regions into windows no longer than ``max_window`` (longer regions stay whole)."""
    windows: list[list[float]] = []
    for start, end in sorted(regions):
        if windows and start - windows[-1][1] <= merge_gap and end - windows[-1][0] <= max_window:
            windows[-1][1] = max(windows[-1][1], end)
        else:
            windows.append([start, end])
    return [(s, e) for s, e in windows]


def pack_pieces(
    streams: list[Stream],
    max_window: float,
    merge_gap: float,
    padding: float,
    gap: float,
    held: HeldSpeech | None = None,
    hold: bool = False,
) -> list[list[Piece]]:
    """Group the padded speech windows of the streams into packs (see the module docstring).

    A speaker's pieces never overlap in time (padding is cut where the previous piece ends), so no
    word is heard twice; a piece longer than ``max_window`` gets a pack of its own. ``held``'s
    pieces are packed first (and taken out of it); with ``hold``, each speaker's last pack goes
    into ``held`` instead of being returned.
    """
    by_key: dict[str, list[tuple[float, float, int, Stream]]] = {}
    for piece in held.pieces if held is not None else []:
        by_key.setdefault(_stream_key(piece.stream), []).append((piece.start, piece.end, -1, piece.stream))
    ends = dict(held.ends) if held is not None else {}
    if held is not None:
        held.pieces = []
    for order, stream in enumerate(streams):
        extent = (stream.offset, stream.offset + len(stream.audio) / stream.sample_rate)
        for start, end in speech_windows(stream.regions, max_window, merge_gap):
            begin, finish = max(extent[0], start - padding), min(extent[1], end + padding)
            if finish > begin:
                by_key.setdefault(_stream_key(stream), []).append((begin, finish, order, stream))
    packs: list[list[Piece]] = []
    for key in sorted(by_key):
        current: list[Piece] = []
        length, previous_end = 0.0, ends.get(key, -np.inf)
        for begin, finish, _, stream in sorted(by_key[key], key=lambda item: (item[0], item[2])):
            begin = max(begin, previous_end)
            if finish - begin <= 0:
                continue
            offset = length + (gap if current else 0.0)
            if current and offset + finish - begin > max_window:
                packs.append(current)
                ends[key] = previous_end
                current, offset = [], 0.0
            previous_end = finish
            current.append(Piece(stream, begin, finish, offset))
            length = offset + finish - begin
        if current and hold and held is not None:
            held.pieces += current
        elif current:
            packs.append(current)
            ends[key] = previous_end
    if held is not None:
        held.ends = ends
    return packs


def pack_audio(pack: list[Piece]) -> np.ndarray:
    """The pack's audio: its pieces at their offsets, silence between (16 kHz float32)."""
    rate = pack[0].stream.sample_rate
    last = pack[-1]
    audio = np.zeros(int(round((last.offset + last.end - last.start) * rate)), dtype=np.float32)
    for piece in pack:
        first = int(round((piece.start - piece.stream.offset) * rate))
        samples = piece.stream.audio[first : first + int(round((piece.end - piece.start) * rate))]
        at = int(round(piece.offset * rate))
        audio[at : at + len(samples)] = samples[: len(audio) - at]
    return audio


def unpack_time(pack: list[Piece], start: float, end: float) -> tuple[Piece, float, float]:
    """A word at ``[start, end]`` s of the pack → its piece and its times in the recording."""
    middle = (start + end) / 2
    piece = next((p for p in reversed(pack) if p.offset <= middle), pack[0])
    shift = piece.start - piece.offset
    begin = min(max(start + shift, piece.start), piece.end)
    return piece, begin, min(max(end + shift, begin), piece.end)


MAX_DECODERS = 4  # default cap on packs decoded at once (each one a CTranslate2 replica's buffers)


def decoder_layout(threads: int, workers: int = 0) -> tuple[int, int]:
    """``(packs decoded at once, CPU threads each)`` on ``threads`` threads; ``workers`` 0 = one per
    thread, at most ``MAX_DECODERS``."""
    threads = max(threads, 1)
    workers = workers or min(threads, MAX_DECODERS)
    return workers, max(1, threads // workers)


class Recognizer:
    """Whisper on 16 kHz streams."""

    sample_rate = 16000

    def __init__(self, config: AsrConfig, runtime: RuntimeConfig) -> None:
        self.config = config
        self.runtime = runtime
        parallel = config.kind == "faster-whisper"
        self.workers, self.worker_threads = (
            decoder_layout(runtime.threads or os.cpu_count() or 1, runtime.asr_workers)
            if parallel
            else (1, runtime.threads)
        )
        self.resolved = resolve_model(
            config.model, "asr", model_dir=runtime.model_dir, allow_download=runtime.allow_download
        )
        self.english_only = self._english_only()

    def _english_only(self) -> bool:
        name = self.config.model
        return name.endswith(".en") or (self.resolved.spec is not None and self.resolved.spec.name.endswith(".en"))

    def _model(self) -> Any:
        if self.config.kind == "faster-whisper":
            return load_faster_whisper(self.resolved, self.config.compute_type, self.worker_threads, self.workers)
        return load_openai_whisper_model(openai_whisper_checkpoint(self.resolved, self.runtime.model_dir))

    @property
    def identifies_language(self) -> bool:
        """Whether the language is identified from the speech (not pinned by the config or the model)."""
        return not (self.english_only or self.config.language)

    def identify_language(self, streams: list[Stream]) -> LanguageChoice:
        """The language to decode ``streams`` in: pinned (``asr.language``, English-only models), or
        identified by Whisper on up to ``asr.language_packs`` packs of speech spread over the
        speakers and the recording: each pack's language probabilities, weighted by its seconds of
        speech, are summed, and the language with the largest share wins if that share reaches
        ``asr.language_min_probability``, else ``asr.language_fallback`` is used (one accented
        sentence, or a first speaker Whisper mistakes, does not decide for the whole recording).
        With ``asr.language_per_speaker``, each speaker's own packs vote for that speaker."""
        config = self.config
        if self.english_only or config.language:
            return LanguageChoice("en" if self.english_only else str(config.language), 1.0)
        packs = pack_pieces(streams, config.max_window, config.merge_gap, config.padding, config.pack_gap)
        by_key: dict[str, list[list[Piece]]] = {}
        for pack in packs:
            by_key.setdefault(_pack_key(pack), []).append(pack)
        share = max(1, round(config.language_packs / max(len(by_key), 1)))
        chosen = [
            (key, group[int(index)])
            for key, group in sorted(by_key.items())
            for index in np.unique(np.linspace(0, len(group) - 1, min(share, len(group))).round())
        ]
        if not chosen:
            return LanguageChoice(config.language_fallback, 0.0, fallback=True)
        model = self._model()
        detected = imap_single_threaded(
            lambda item: self._language_probabilities(model, pack_audio(item[1])), chosen, self.workers
        )
        votes = [(key, _speech_seconds(pack), probabilities) for (key, pack), probabilities in zip(chosen, detected)]
        code, probability = _vote(votes)
        fallback = probability < config.language_min_probability
        if fallback:
            logger.info(
                "language: %s won only %.2f of the vote; decoding in %s", code, probability, config.language_fallback
            )
            code = config.language_fallback
        speakers = {}
        if config.language_per_speaker:
            for key in by_key:
                own, own_probability = _vote([vote for vote in votes if vote[0] == key])
                speakers[key] = own if own_probability >= config.language_min_probability else code
        return LanguageChoice(code, round(probability, 4), speakers, fallback)

    def _language_probabilities(self, model: Any, audio: np.ndarray) -> dict[str, float]:
        """Whisper's probability of each language for ``audio`` (its first 30 s)."""
        if self.config.kind == "faster-whisper":
            with short_windows(model, self.config.short_windows):
                return vote_encodings(model).language_probabilities(audio)
        import torch
        import whisper

        mel = whisper.log_mel_spectrogram(whisper.pad_or_trim(torch.from_numpy(audio)), n_mels=model.dims.n_mels)
        return dict(model.detect_language(mel)[1])

    def __call__(
        self,
        streams: list[Stream],
        reporter: StageReporter | None = None,
        language: LanguageChoice | None = None,
        held: HeldSpeech | None = None,
        last: bool = True,
    ) -> AsrResult:
        """Transcribe the speech regions of each stream; words come back in recording time.

        ``language``: as chosen by :meth:`identify_language` for the whole recording (by default,
        identified on these streams). ``held``: speech carried between the batches of one recording
        (see :class:`HeldSpeech`); unless ``last``, each speaker's last pack waits in it for the next batch.
        """
        model = self._model()
        language = language or self.identify_language(streams)
        config = self.config
        packs = pack_pieces(
            streams, config.max_window, config.merge_gap, config.padding, config.pack_gap, held, hold=not last
        )
        words: list[RecognizedWord] = []
        decoded = imap_single_threaded(
            lambda pack: self._transcribe(model, pack_audio(pack), language.for_speaker(_pack_key(pack))),
            packs,
            self.workers,
        )
        for index, (pack, found) in enumerate(zip(packs, decoded)):
            for text, word_start, word_end, probability in found:
                if not text:
                    continue
                piece, start, end = unpack_time(pack, word_start, max(word_end, word_start))
                words.append(
                    RecognizedWord(
                        text=text,
                        start=round(start, 3),
                        end=round(end, 3),
                        probability=round(min(max(probability, 0.0), 1.0), 4),
                        stream=piece.stream.name,
                        speaker=piece.stream.speaker,
                    )
                )
            if reporter is not None:
                reporter.progress(index + 1, len(packs))
        words.sort(key=lambda word: (word.start, word.end, word.stream))
        return AsrResult(words=words, language=language)

    def _transcribe(self, model: Any, audio: np.ndarray, language: str) -> list[tuple[str, float, float, float]]:
        """Returns ``[(text, start, end, probability)]`` relative to ``audio``, decoded in ``language``.

        Without the sampling fallback, Whisper's own checks are applied here, deterministically: a
        segment that looks like silence (no-speech probability > 0.6 with mean log-probability < -1)
        is dropped; a window whose text loops (gzip compression ratio > 2.4) is decoded once more
        with repetition suppressed, and a segment that still loops is dropped.
        """
        options: dict[str, Any] = dict(
            language=language,
            temperature=0.0,
            beam_size=self.config.beam_size,
            condition_on_previous_text=False,
            word_timestamps=True,
        )
        if self.config.kind == "faster-whisper":
            with short_windows(model, self.config.short_windows):
                segments = _faster_whisper_segments(model, audio, options)
                if any(s.compression_ratio > MAX_COMPRESSION_RATIO for s in segments):
                    segments = _faster_whisper_segments(
                        model, audio, dict(options, no_repeat_ngram_size=3, repetition_penalty=1.2)
                    )
            return [
                (word.strip(), start, end, probability)
                for s in segments
                if _plausible(s.compression_ratio, s.no_speech_prob, s.avg_logprob)
                for word, start, end, probability in _segment_words(s, len(audio) / self.sample_rate)
            ]
        if options["beam_size"] == 1:
            options["beam_size"] = None  # greedy in openai-whisper
        result = model.transcribe(
            audio,
            fp16=False,
            verbose=None,
            compression_ratio_threshold=None,
            logprob_threshold=None,
            no_speech_threshold=None,
            **options,
        )
        found = [
            (w["word"].strip(), float(w["start"]), float(w["end"]), float(w["probability"]))
            for s in result["segments"]
            if _plausible(float(s["compression_ratio"]), float(s["no_speech_prob"]), float(s["avg_logprob"]))
            for w in s.get("words", [])
        ]
        return found


def _faster_whisper_segments(model: Any, audio: np.ndarray, options: dict[str, Any]) -> list[Any]:
    """faster-whisper's segments of ``audio``. Its word alignment fails on some audio (an empty
    alignment for a segment Whisper invents past the end: ``IndexError`` in ``find_alignment``,
    SYSTRAN/faster-whisper#1342, fix proposed in #1460); then the same audio is decoded again without
    word timestamps and :func:`_segment_words` times the words within their segments."""
    try:
        return list(model.transcribe(audio, vad_filter=False, **options)[0])
    except IndexError:
        logger.warning(
            "faster-whisper could not align words in a %.1f s pack; words timed by segment", len(audio) / 16000
        )
        return list(model.transcribe(audio, vad_filter=False, **dict(options, word_timestamps=False))[0])


def _segment_words(segment: Any, duration: float) -> list[tuple[str, float, float, float]]:
    """A segment's ``(word, start, end, probability)``: faster-whisper's own when it aligned them, else
    the segment's text split at spaces, its time (cut at ``duration``) shared in proportion to each
    word's length, probability ``exp(avg_logprob)``."""
    if segment.words:
        return [(w.word, w.start, w.end, w.probability) for w in segment.words]
    texts = segment.text.split()
    start, end = segment.start, min(segment.end, duration)
    if not texts or end <= start:
        return []
    bounds = np.concatenate([[0], np.cumsum([len(t) for t in texts])]) / sum(len(t) for t in texts)
    probability = float(np.exp(segment.avg_logprob))
    times = start + bounds * (end - start)
    return [(text, float(a), float(b), probability) for text, a, b in zip(texts, times[:-1], times[1:])]


MAX_COMPRESSION_RATIO = 2.4  # Whisper's own threshold for looping output
NO_SPEECH_PROBABILITY = 0.6
MIN_AVERAGE_LOGPROB = -1.0


def _plausible(compression_ratio: float, no_speech_prob: float, avg_logprob: float) -> bool:
    """Whisper's own tests for a decoded segment: not looping, and not speech invented in silence."""
    silence = no_speech_prob > NO_SPEECH_PROBABILITY and avg_logprob < MIN_AVERAGE_LOGPROB
    return compression_ratio <= MAX_COMPRESSION_RATIO and not silence


def language_sample(segments: list[SpeakerSegment], packs: int) -> list[SpeakerSegment]:
    """Speaker segments for the language vote: about ``packs`` in all, each speaker's spread evenly
    over the recording (sorted by start)."""
    by_speaker: dict[str, list[SpeakerSegment]] = {}
    for segment in sorted(segments, key=lambda s: (s.start, s.end)):
        by_speaker.setdefault(segment.speaker, []).append(segment)
    share = max(1, round(packs / max(len(by_speaker), 1)))
    chosen = [
        own[int(index)]
        for own in by_speaker.values()
        for index in np.unique(np.linspace(0, len(own) - 1, min(share, len(own))).round())
    ]
    return sorted(chosen, key=lambda s: (s.start, s.end, s.speaker))


def _pack_key(pack: list[Piece]) -> str:
    """Whose speech a pack holds: the speaker of its streams, else the stream's name."""
    return _stream_key(pack[0].stream)


def _stream_key(stream: Stream) -> str:
    return stream.speaker or stream.name


def _speech_seconds(pack: list[Piece]) -> float:
    return sum(piece.end - piece.start for piece in pack)


def _vote(votes: list[tuple[str, float, dict[str, float]]]) -> tuple[str, float]:
    """``(language, share)``: the language with the largest sum of probabilities weighted by seconds
    of speech, and its share of the total."""
    totals: dict[str, float] = {}
    weight = sum(seconds for _, seconds, _ in votes) or 1.0
    for _, seconds, probabilities in votes:
        for code, probability in probabilities.items():
            totals[code] = totals.get(code, 0.0) + seconds * probability / weight
    best = max(sorted(totals), key=lambda code: totals[code])
    return best, totals[best]
