"""Stage 6b: speakers checked on their own streams: a segment whose enhanced voice is another speaker's goes to them.

With speaker streams (beams, GSS, a separation network) every diarized segment is decoded from its
speaker's own enhanced stream. The clustering gave the segment its speaker from the mixture, where
other voices and the room blur who is talking; the enhanced stream hears the talker more clearly (re-
assigning segments by the embeddings of their enhanced streams fixes many speaker-confusion errors:
arXiv 2406.03155). :meth:`StreamSpeakerCheck.prints` makes a voiceprint of each stream's own speech
(where the diarization has its speaker talking alone) as the streams are made, batch by batch; once all
are made, :meth:`StreamSpeakerCheck.__call__` compares each segment's voiceprint with every speaker's
mean voiceprint over their other segments, and gives the segment (its words, and its speaker's activity
in the diarization over its span) to another speaker when that speaker's mean is more similar than its
own speaker's by at least ``attribute.reassign_margin``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np

from meetsep.core.config import AttributeConfig
from meetsep.core.intervals import merge_spans, overlapping_parts, subtract_intervals
from meetsep.core.logs import logger
from meetsep.core.protocols import Signal
from meetsep.core.records import Diarization, Interval, RecognizedWord, SegmentPrint, Stream, Voiceprint
from meetsep.schema import SpeakerSegment

MIN_SECONDS = 1.0  # a segment's own speech (its speaker alone) needed to check its speaker

Printer = Callable[[Signal, list[Interval]], Voiceprint | None]


class StreamSpeakerCheck:
    """Segment voiceprints from speaker streams → words and diarization with mistaken segments moved.

    Args:
        config: ``reassign_margin`` (cosine similarity) is the margin a segment's voice must favour
            another speaker by.
        printer: voiceprints of spans of a 16 kHz signal (:class:`meetsep.stages.identify.VoicePrinter`).
    """

    def __init__(self, config: AttributeConfig, printer: Printer) -> None:
        if config.reassign_margin is None:
            raise ValueError("attribute.reassign_margin is not set: the check is off")
        self.margin = config.reassign_margin
        self.printer = printer

    def prints(self, streams: list[Stream], diarization: Diarization) -> list[SegmentPrint]:
        """A voiceprint of each speaker stream's segment, over the time its speaker talks alone there
        (streams without a speaker, or with less than ``MIN_SECONDS`` of such speech, give none)."""
        own: dict[str, list[Interval]] = {}
        for segment in diarization.segments:
            own.setdefault(segment.speaker, []).append((segment.start, segment.end))
        result = []
        for stream in streams:
            if stream.speaker is None or not stream.regions:
                continue
            others = [span for name, spans in own.items() if name != stream.speaker for span in spans]
            mine = [
                (max(a, start), min(b, end))
                for start, end in stream.regions
                for a, b in own.get(stream.speaker, [])
                if min(b, end) > max(a, start)
            ]
            alone = subtract_intervals(merge_spans(mine), merge_spans(others))
            if sum(b - a for a, b in alone) < MIN_SECONDS:
                continue
            shifted = [(a - stream.offset, b - stream.offset) for a, b in alone]
            voiceprint = self.printer(stream.audio, shifted)
            if voiceprint is not None:
                span = (min(a for a, _ in stream.regions), max(b for _, b in stream.regions))
                result.append(SegmentPrint(stream.name, stream.speaker, span, voiceprint.vector, voiceprint.seconds))
        return result

    def moves(self, prints: list[SegmentPrint]) -> dict[str, str]:
        """Stream name → the speaker its segment goes to, for the segments that move."""
        totals: dict[str, np.ndarray] = {}
        for p in prints:
            totals[p.speaker] = totals.get(p.speaker, 0.0) + p.vector * p.seconds
        moved: dict[str, str] = {}
        for p in prints:
            rest = totals[p.speaker] - p.vector * p.seconds  # its speaker without this segment
            others = sorted(name for name in totals if name != p.speaker)
            if not others or np.linalg.norm(rest) < 1e-6:
                continue  # nobody to compare with, or a speaker heard in this segment only
            mine = float(rest @ p.vector / np.linalg.norm(rest))
            scores = [float(totals[name] @ p.vector / (np.linalg.norm(totals[name]) + 1e-12)) for name in others]
            best = int(np.argmax(scores))
            logger.debug("%s %s: own %.3f, %s %.3f", p.stream, p.span, mine, others[best], scores[best])
            if scores[best] - mine >= self.margin:
                moved[p.stream] = others[best]
        return moved

    def __call__(
        self, words: list[RecognizedWord], diarization: Diarization, prints: list[SegmentPrint]
    ) -> tuple[list[RecognizedWord], Diarization]:
        """The words and diarization with each moved segment's words and activity given to its new speaker."""
        moved = self.moves(prints)
        if not moved:
            return words, diarization
        spans = {p.stream: (p.speaker, moved[p.stream], p.span) for p in prints if p.stream in moved}
        words = [replace(w, speaker=spans[w.stream][1]) if w.stream in spans else w for w in words]
        changes = list(spans.values())
        return words, Diarization(
            _moved(diarization.segments, changes),
            _moved(diarization.exclusive, changes),
            overlapping_parts(_moved(diarization.segments, changes)),
            diarization.count_confidence,
        )


def _moved(segments: list[SpeakerSegment], changes: list[tuple[str, str, Interval]]) -> list[SpeakerSegment]:
    """``segments`` with the parts of speaker ``a`` inside each ``(a, b, span)`` given to ``b`` (each
    speaker's segments merged where they touch or overlap)."""
    spans: dict[str, list[Interval]] = {}
    for segment in segments:
        parts = [(segment.start, segment.end)]
        for old, new, (start, end) in changes:
            if old != segment.speaker:
                continue
            kept = []
            for a, b in parts:
                if min(b, end) > max(a, start):
                    spans.setdefault(new, []).append((max(a, start), min(b, end)))
                kept += subtract_intervals([(a, b)], [(start, end)])
            parts = kept
        spans.setdefault(segment.speaker, []).extend(parts)
    result = [SpeakerSegment(speaker=name, start=a, end=b) for name, own in spans.items() for a, b in merge_spans(own)]
    return sorted(result, key=lambda s: (s.start, s.end, s.speaker))
