"""Scoring with the field's standard tools: cpWER / tcpWER (meeteval), DER / JER (pyannote.metrics).

Text normalization, applied identically to reference and hypothesis before WER: Whisper's
``EnglishTextNormalizer`` (lower case, punctuation removed, spelling standardized, numbers written
as digits, e.g. "twenty" and "20" both become "20"), then whitespace collapsed.

Files or folders are matched by session id. When a reference and a hypothesis folder share no id
and each holds one session (``meetsep simulate`` names its session ``meeting``, ``meetsep
transcribe`` names the transcript after the file, ``mix``), those two are scored together; when
nothing can be matched, one line says which hypothesis file to pass. A reference session without a
hypothesis scores as an empty transcript (every word deleted).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from meetsep.core.errors import MeetsepError

COLLAR_TCP = 5.0


def si_snr(estimate: Any, target: Any) -> float:
    """Scale-invariant SNR in dB of ``estimate`` against ``target`` (``(samples,)`` arrays; torchmetrics)."""
    import numpy as np
    import torch
    from torchmetrics.functional.audio import scale_invariant_signal_noise_ratio

    length = min(len(estimate), len(target))
    pair = [torch.from_numpy(np.asarray(x[:length], dtype=np.float64)) for x in (estimate, target)]
    return float(scale_invariant_signal_noise_ratio(*pair))


def si_snr_improvement(estimates: Any, targets: Any, mixture: Any) -> float:
    """Mean SI-SNR gain of ``estimates`` ``(sources, samples)`` over ``mixture`` for ``targets``, best permutation."""
    from itertools import permutations

    import numpy as np

    baseline = np.mean([si_snr(mixture, target) for target in targets])
    best = max(
        np.mean([si_snr(estimates[p], target) for target, p in zip(targets, order)])
        for order in permutations(range(len(targets)))
    )
    return float(best - baseline)


@dataclass
class Scores:
    """Scores of one session (or the total over sessions: rates from summed counts).

    Attributes:
        cpwer / tcpwer: concatenated minimum-permutation WER (tcpWER with a 5 s collar).
        orcwer: optimal reference combination WER: the words, whoever they are given to (speaker-agnostic;
            meeteval's greedy ORC, an upper bound of the exact one, whose search can take tens of GB).
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
    reference_speech: float = 0.0
    orcwer: float = 0.0
    orc_errors: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def pairwise_scores(found: list[Any], truth: list[Any]) -> dict[str, float]:
    """Pairwise precision, recall and F1 of a grouping (``found[i]``: item i's group) against the true one:
    a pair of items in one found group is right when they share a true group. Counted, not paired out:
    linear in the items (an archive of 30,000 speakers has 450 million pairs)."""
    from collections import Counter

    def pairs(counts: Any) -> int:
        return sum(n * (n - 1) // 2 for n in counts.values())

    hits = pairs(Counter(zip(found, truth)))
    precision, recall = hits / max(1, pairs(Counter(found))), hits / max(1, pairs(Counter(truth)))
    return dict(precision=precision, recall=recall, f1=2 * precision * recall / max(1e-9, precision + recall))


def normalize_text(text: str) -> str:
    from whisper.normalizers import EnglishTextNormalizer

    return " ".join(EnglishTextNormalizer()(text).split())


def load_segments(path: str | Path) -> list[dict[str, Any]]:
    """SegLST entries from a SegLST file, a meetsep transcript JSON, or an RTTM (no words).

    Raises:
        MeetsepError: the file is none of these; one line naming it.
    """
    path = Path(path)
    try:
        segments = _read_segments(path)
    except MeetsepError:
        raise
    except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError, ArithmeticError) as error:
        detail = " ".join(str(error).split())[:150] or type(error).__name__
        if isinstance(error, ArithmeticError):  # an RTTM time that is not a decimal number
            detail = "a time that is not a number"
        raise MeetsepError(f"{path}: not a SegLST, RTTM or meetsep transcript file ({detail})") from None
    checked = [_checked_times(path, number, entry) for number, entry in enumerate(segments, 1)]
    # a segment of no length and no words is no one's speech (RTTMs hold such lines): not a speaker
    return [e for e in checked if e["end_time"] > e["start_time"] or str(e.get("words", "")).strip()]


def _checked_times(path: Path, number: int, entry: dict[str, Any]) -> dict[str, Any]:
    """``entry`` with its times as floats (an RTTM's are decimals), or a one-line error naming the segment."""
    try:
        start, end = float(entry["start_time"]), float(entry["end_time"])
    except KeyError as missing:
        raise MeetsepError(f"{path}: segment {number} has no {missing.args[0]}") from None
    except (TypeError, ValueError, ArithmeticError):
        raise MeetsepError(f"{path}: segment {number}: start_time and end_time must be numbers") from None
    if not (math.isfinite(start) and math.isfinite(end)) or start < 0 or end < start:
        raise MeetsepError(
            f"{path}: segment {number} runs from {start} to {end} s (times must be finite, not negative, end >= start)"
        )
    if "speaker" not in entry:
        raise MeetsepError(f"{path}: segment {number} has no speaker")
    return dict(entry, start_time=start, end_time=end)


def _read_segments(path: Path) -> list[dict[str, Any]]:
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".rttm":
        from meeteval.io import RTTM

        return [dict(e) for e in RTTM.parse(text).to_seglst()]
    data = json.loads(text)
    if isinstance(data, dict) and "turns" in data:
        return [
            dict(
                session_id=data["session_id"],
                speaker=t["speaker"],
                start_time=t["start"],
                end_time=t["end"],
                words=t["text"],
            )
            for t in data["turns"]
        ]
    if not isinstance(data, list) or not all(isinstance(e, dict) for e in data):
        raise ValueError("expected a list of segments or a transcript")
    return [dict(e) for e in data]


def load_diarization(path: str | Path) -> list[dict[str, Any]] | None:
    """Speaker activity for DER: a transcript JSON's diarization, else the segments themselves."""
    path = Path(path)
    if path.suffix == ".json":
        data = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(data, dict) and "diarization" in data:
            return [dict(speaker=s["speaker"], start_time=s["start"], end_time=s["end"]) for s in data["diarization"]]
    return None


def annotation(segments: list[dict[str, Any]], uri: str) -> Any:
    """SegLST-style entries (``speaker``, ``start_time``, ``end_time``) as the pyannote ``Annotation`` DER is
    scored on (:func:`score_session`); entries of no duration are left out."""
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
    if not hypothesis:  # an empty transcript: one empty segment, so meeteval sees the session (all words deleted)
        hyp = meeteval.io.SegLST([dict(session_id=sid, speaker="<none>", start_time=0.0, end_time=0.0, words="")])
    cp = meeteval.wer.cpwer(ref, hyp)[sid] if reference else None
    tcp = meeteval.wer.tcpwer(ref, hyp, collar=COLLAR_TCP)[sid] if reference else None
    # greedy ORC: exact ORC-WER's search blows up (tens of GB) on long sessions with many speakers
    orc = meeteval.wer.greedy_orcwer(ref, hyp)[sid] if reference and hypothesis else None
    ref_annotation = annotation(reference, sid)
    hyp_annotation = annotation(hypothesis_diarization if hypothesis_diarization is not None else hypothesis, sid)
    der = (
        float(DiarizationErrorRate(collar=0.0, skip_overlap=False)(ref_annotation, hyp_annotation))
        if reference
        else None
    )
    jer = float(JaccardErrorRate(collar=0.0, skip_overlap=False)(ref_annotation, hyp_annotation)) if reference else None
    ref_speakers = len({e["speaker"] for e in reference})
    hyp_speakers = len(
        {e["speaker"] for e in (hypothesis_diarization if hypothesis_diarization is not None else hypothesis)}
    )
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
        reference_speech=float(ref_annotation.get_timeline().support().duration()),
        orcwer=float(orc.error_rate) if orc and orc.length else (1.0 if reference else 0.0),
        orc_errors=int(orc.errors) if orc else (int(cp.length) if cp else 0),
    )


def der_components(reference: list[dict[str, Any]], hypothesis: list[dict[str, Any]]) -> dict[str, float]:
    """DER's parts in seconds (``missed detection``, ``false alarm``, ``confusion``, ``correct``, ``total``
    reference speech), no collar, overlap scored, on the annotations :func:`score_session` scores."""
    from pyannote.metrics.diarization import DiarizationErrorRate

    annotations = [annotation(entries, "session") for entries in (reference, hypothesis)]
    return DiarizationErrorRate(collar=0.0, skip_overlap=False)(*annotations, detailed=True)


def score_files(reference: str | Path, hypothesis: str | Path) -> Scores:
    """Score a hypothesis file (transcript JSON or SegLST) against a reference SegLST."""
    ref = load_segments(reference)
    return score_session(ref, load_segments(hypothesis), load_diarization(hypothesis))


def total(scores: list[Scores]) -> Scores:
    """Corpus total: WER from summed errors and words, DER weighted by reference speech time.

    Not a mean of per-session rates: long sessions weigh more, as in meeteval and pyannote.metrics.
    """
    words = sum(s.reference_words for s in scores)
    cp, tcp = sum(s.cp_errors for s in scores), sum(s.tcp_errors for s in scores)
    speech = [s.reference_speech for s in scores]
    weighted = [(s.der, s.jer, w) for s, w in zip(scores, speech) if s.der is not None]
    weight = sum(w for _, _, w in weighted)
    return Scores(
        session_id="TOTAL",
        cpwer=cp / words if words else 0.0,
        tcpwer=tcp / words if words else 0.0,
        der=sum(d * w for d, _, w in weighted) / weight if weight else None,
        jer=sum(j * w for _, j, w in weighted) / weight if weight else None,
        reference_speakers=sum(s.reference_speakers for s in scores),
        hypothesis_speakers=sum(s.hypothesis_speakers for s in scores),
        speaker_count_error=sum(abs(s.speaker_count_error) for s in scores),
        reference_words=words,
        cp_errors=cp,
        tcp_errors=tcp,
        reference_speech=sum(speech),
        orcwer=sum(s.orc_errors for s in scores) / words if words else 0.0,
        orc_errors=sum(s.orc_errors for s in scores),
    )


def _sessions(path: Path, reference: bool) -> dict[str, Path]:
    """Session id → file, for one file or every scorable file under a folder."""
    if path.is_file():
        files = [path]
    elif reference:
        files = sorted(path.rglob("*.seglst.json"))
    else:
        files = sorted(p for p in path.rglob("*.json") if not p.name.endswith(".seglst.json")) or sorted(
            path.rglob("*.seglst.json")
        )
    found: dict[str, Path] = {}
    for file in files:
        segments = load_segments(file)
        if not segments and file.suffix == ".json":
            data = json.loads(file.read_text(encoding="utf-8"))
            sid = data.get("session_id") if isinstance(data, dict) else None
        else:
            sid = segments[0]["session_id"] if segments else None
        if sid is not None:
            found[str(sid)] = file
    return found


def score_paths(reference: str | Path, hypothesis: str | Path) -> list[Scores]:
    """Score files or folders: one row per reference session (a missing hypothesis scores as empty).

    Raises:
        MeetsepError: a file that cannot be read, or a hypothesis folder none of whose sessions
            matches a reference session (the message says which file to pass).
    """
    if Path(reference).is_file() and Path(hypothesis).is_file():
        return [score_files(reference, hypothesis)]
    references, hypotheses = _sessions(Path(reference), True), _sessions(Path(hypothesis), False)
    if references and hypotheses and not set(references) & set(hypotheses):
        if len(references) == 1 and len(hypotheses) == 1:  # e.g. simulate's "meeting" and transcribe's "mix"
            (sid,), (hyp_file,) = references, hypotheses.values()
            hypotheses = {sid: hyp_file}
        else:
            example = next(iter(hypotheses.values()))
            raise MeetsepError(
                f"{hypothesis}: no hypothesis session matches a reference session "
                f"(reference: {', '.join(sorted(references)[:3])}; hypothesis: {', '.join(sorted(hypotheses)[:3])}); "
                f"pass files one by one, e.g. meetsep evaluate REFERENCE_FILE {example}"
            )
    rows = []
    for sid, ref_file in sorted(references.items()):
        hyp_file = hypotheses.get(sid)
        ref = load_segments(ref_file)
        if hyp_file is None:
            rows.append(score_session(ref, [], [], session_id=sid))
        else:
            rows.append(score_session(ref, load_segments(hyp_file), load_diarization(hyp_file), session_id=sid))
    return rows
