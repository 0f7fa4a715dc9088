"""Scoring with the field's standard tools: cpWER / tcpWER (meeteval), DER / JER (pyannote.metrics).

Text normalization, applied identically to reference and hypothesis before WER: Whisper's
``EnglishTextNormalizer`` (lower case, punctuation removed, spelling standardized, numbers written
as digits, e.g. "twenty" and "20" both become "20"), then whitespace collapsed.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

COLLAR_TCP = 5.0


@dataclass
class Scores:
    """Scores of one session (or the total over sessions: rates from summed counts).

    Attributes:
        cpwer / tcpwer: concatenated minimum-permutation WER (tcpWER with a 5 s collar).
        der / jer: diarization and Jaccard error rates (no collar, overlap scored).
        speaker_count_error: hypothesis speakers minus reference speakers.
    """

    session_id: str
    cpwer: float
    tcpwer: float
    der: float | None
    jer: float | None
    reference_speakers: int
    hypothesis_speakers: int
    speaker_count_error: int
    reference_words: int
    cp_errors: int
    tcp_errors: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def normalize_text(text: str) -> str:
    from whisper.normalizers import EnglishTextNormalizer

    return " ".join(EnglishTextNormalizer()(text).split())


def load_segments(path: str | Path) -> list[dict[str, Any]]:
    """SegLST entries from a SegLST file, a meetsep transcript JSON, or an RTTM (no words)."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".rttm":
        from meeteval.io import RTTM

        return [dict(e) for e in RTTM.parse(text).to_seglst()]
    data = json.loads(text)
    if isinstance(data, dict) and "turns" in data:
        return [
            dict(session_id=data["session_id"], speaker=t["speaker"], start_time=t["start"], end_time=t["end"], words=t["text"])
            for t in data["turns"]
        ]
    return [dict(e) for e in data]


def load_diarization(path: str | Path) -> list[dict[str, Any]] | None:
    """Speaker activity for DER: a transcript JSON's diarization, else the segments themselves."""
    path = Path(path)
    if path.suffix == ".json":
        data = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(data, dict) and "diarization" in data:
            return [dict(speaker=s["speaker"], start_time=s["start"], end_time=s["end"]) for s in data["diarization"]]
    return None


def _annotation(segments: list[dict[str, Any]], uri: str) -> Any:
    from pyannote.core import Annotation, Segment

    annotation = Annotation(uri=uri)
    for index, entry in enumerate(segments):
        if float(entry["end_time"]) > float(entry["start_time"]):
            annotation[Segment(float(entry["start_time"]), float(entry["end_time"])), index] = str(entry["speaker"])
    return annotation


def score_session(
    reference: list[dict[str, Any]],
    hypothesis: list[dict[str, Any]],
    hypothesis_diarization: list[dict[str, Any]] | None = None,
    session_id: str | None = None,
) -> Scores:
    """Score one session. Entries are SegLST dicts; all are relabelled to one session id."""
    import meeteval.io
    import meeteval.wer
    from pyannote.metrics.diarization import DiarizationErrorRate, JaccardErrorRate

    sid = session_id or (reference[0]["session_id"] if reference else "session")

    def prepared(entries: list[dict[str, Any]]) -> Any:
        return meeteval.io.SegLST(
            [dict(e, session_id=sid, words=normalize_text(str(e.get("words", "")))) for e in entries]
        )

    ref, hyp = prepared(reference), prepared(hypothesis)
    if not hypothesis:
        hyp = meeteval.io.SegLST([])
    cp = meeteval.wer.cpwer(ref, hyp)[sid] if reference else None
    tcp = meeteval.wer.tcpwer(ref, hyp, collar=COLLAR_TCP)[sid] if reference else None
    ref_annotation = _annotation(reference, sid)
    hyp_annotation = _annotation(hypothesis_diarization if hypothesis_diarization is not None else hypothesis, sid)
    der = float(DiarizationErrorRate(collar=0.0, skip_overlap=False)(ref_annotation, hyp_annotation)) if reference else None
    jer = float(JaccardErrorRate(collar=0.0, skip_overlap=False)(ref_annotation, hyp_annotation)) if reference else None
    ref_speakers = len({e["speaker"] for e in reference})
    hyp_speakers = len({e["speaker"] for e in (hypothesis_diarization if hypothesis_diarization is not None else hypothesis)})
    return Scores(
        session_id=sid,
        cpwer=float(cp.error_rate) if cp and cp.length else 0.0,
        tcpwer=float(tcp.error_rate) if tcp and tcp.length else 0.0,
        der=der,
        jer=jer,
        reference_speakers=ref_speakers,
        hypothesis_speakers=hyp_speakers,
        speaker_count_error=hyp_speakers - ref_speakers,
        reference_words=int(cp.length) if cp else 0,
        cp_errors=int(cp.errors) if cp else 0,
        tcp_errors=int(tcp.errors) if tcp else 0,
    )


def score_files(reference: str | Path, hypothesis: str | Path) -> Scores:
    """Score a hypothesis file (transcript JSON or SegLST) against a reference SegLST."""
    ref = load_segments(reference)
    return score_session(ref, load_segments(hypothesis), load_diarization(hypothesis))
