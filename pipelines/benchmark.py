"""Compare configurations side by side on one simulated corpus: cpWER, tcpWER, DER, speaker count, RTF, memory.

Each configuration runs in its own process (``pipelines/benchmark_systems.py``, which lists them), so
peak memory and model loading are its own.

    python pipelines/benchmark.py --corpus ci          # seconds; used by the tests
    python pipelines/benchmark.py --corpus standard    # 20 meetings, 30+ minutes, 0-40 % overlap, 2-5 speakers
    python pipelines/benchmark.py --corpus generalization --split heldout \
        --configs z_before,b_meetsep,a_one_channel,d_peer_senko,c_oracle

The corpora are :mod:`meetsep.sim.corpora`'s. ``generalization`` (56 meetings, 4 voice families, every speaker
degraded, reverberant noisy rooms; 40 dev, 16 held-out) and ``real`` are split by voice: ``--split dev`` holds
the voices defaults are chosen on, ``--split heldout`` those they are reported on (leave-family-out).

Prints one table (rows: configurations) with cpWER, tcpWER, speaker-agnostic orcWER, DER and the
speaker count, then the same by voice family, by overlap ratio and by room; saves results.json and
results.csv next to the hypotheses under --out.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import runpy
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

SYSTEMS = Path(__file__).with_name("benchmark_systems.py")
CONFIGS: dict[str, dict[str, Any]] = runpy.run_path(str(SYSTEMS))["CONFIGS"]
BASELINE_REV = "0236ca8"  # main before the generalization work (threshold AHC, first-pack language)


# ---------------------------------------------------------------------------- scoring and the table


def score(sessions: list[Path], out: Path) -> dict[str, Any]:
    from meetsep.analysis.evaluate import der_components, score_session, total
    from meetsep.sim.corpora import session_plan, spoken_language

    rows = []
    for session in sessions:
        reference = json.loads((session / "reference.seglst.json").read_text())
        hypothesis = json.loads((out / f"{session.name}.seglst.json").read_text())
        diarization = json.loads((out / f"{session.name}.diarization.json").read_text())
        scores = score_session(reference, hypothesis, diarization, session_id=session.name)
        if not json.loads((session / "meta.json").read_text()).get("words_known", True):
            # a real voice whose words are unknown: who spoke when is scored, words are not
            scores = replace(scores, reference_words=0, cp_errors=0, tcp_errors=0, orc_errors=0)
        plan = session_plan(session)
        heard = out / f"{session.name}.language.json"  # only configurations whose transcript names one
        told = json.loads(heard.read_text()) if heard.is_file() else {}
        language, confidence = told.get("code"), told.get("count_confidence")
        overlap = 100 * plan.get("overlap_ratio", 0.0)
        groups = dict(
            overlap=f"{int(round(overlap))}%",
            band=next(name for name, low in OVERLAP_BANDS if overlap >= low),
            family=(plan.get("family") or "-") + (" call" if plan.get("mode") == "phone-call" else ""),
            room=f"RT60 {plan.get('rt60', 0.3):.2f} SNR {plan.get('snr_db', 30):.0f}",
        )
        # the corpus's meetings are spoken in English unless their voices say otherwise
        expected = spoken_language(session)
        right = None if language is None or expected is None else language == expected
        parts = der_components(reference, diarization)  # seconds: missed, false alarm, confusion, total
        rows.append((scores, dict(groups, language=language, count_confidence=confidence, parts=parts), right))

    def summary(group: list[Any]) -> dict[str, Any]:
        t = total([s for s, _, _ in group])
        exact = sum(s.speaker_count_error == 0 for s, _, _ in group) / len(group)
        heard = [right for _, _, right in group if right is not None]
        words = t.reference_words > 0  # else no session of the group has known words
        speech = sum(g["parts"]["total"] for _, g, _ in group) or 1.0
        parts = {
            name: sum(g["parts"][key] for _, g, _ in group) / speech
            for name, key in (
                ("missed", "missed detection"),
                ("false_alarm", "false alarm"),
                ("confusion", "confusion"),
            )
        }
        return dict(
            **parts,
            cpwer=t.cpwer if words else None,
            tcpwer=t.tcpwer if words else None,
            orcwer=t.orcwer if words else None,
            der=t.der,
            count_exact=exact,
            language_right=sum(heard) / len(heard) if heard else None,
            meetings=len(group),
        )

    by: dict[str, dict[str, Any]] = {}
    for key in ("overlap", "band", "family", "room"):
        names = sorted({g[key] for _, g, _ in rows}, key=lambda n: (len(n), n))
        by[key] = {name: summary([r for r in rows if r[1][key] == name]) for name in names}
    high = [r for r in rows if int(r[1]["overlap"][:-1]) >= 20]
    return dict(
        total=dict(summary(rows), speaker_count_error=total([s for s, _, _ in rows]).speaker_count_error),
        high_overlap=summary(high) if high else None,
        by=by,
        by_overlap=by["overlap"],
        sessions=[dict(s.as_dict(), **{k: v for k, v in g.items() if k != "parts"}) for s, g, _ in rows],
    )


def baseline_checkout(revision: str) -> Path:
    """meetsep's package and presets at ``revision``, unpacked once under build/ (``git archive``)."""
    root = Path(__file__).resolve().parent.parent
    target = root / "build" / f"baseline-{revision}"
    if not (target / "meetsep" / "__init__.py").is_file():
        target.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(
            ["git", "-C", str(root), "archive", revision, "meetsep", "configs"], check=True, capture_output=True
        )
        subprocess.run(["tar", "-x", "-C", str(target)], input=archive.stdout, check=True)
    return target


def main() -> None:
    from meetsep.sim.corpora import CORPORA, corpus_plan, make_corpus

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", default="ci", choices=CORPORA)
    parser.add_argument("--configs", default=",".join(CONFIGS), help="comma-separated subset of: " + ", ".join(CONFIGS))
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="applied to every configuration",
    )
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument(
        "--sessions", default=None, help="only these session ids (comma-separated), e.g. for a quick re-check"
    )
    parser.add_argument("--split", default=None, help="only sessions whose id starts with this (dev, heldout)")
    parser.add_argument("--baseline-rev", default=BASELINE_REV, help="git revision whose defaults z_before runs")
    parser.add_argument(
        "--reuse", action="store_true", help="score the outputs of configurations already run under --out"
    )
    args = parser.parse_args()
    out = args.out or Path("build/benchmark") / (args.corpus + (f"-{args.split}" if args.split else ""))
    corpus_dir = Path("build/corpus") / args.corpus
    chosen = set(args.sessions.split(",")) if args.sessions else None
    if args.split:
        ids = {e["session_id"] for e in corpus_plan(args.corpus) if e["session_id"].startswith(args.split)}
        chosen = ids if chosen is None else chosen & ids

    began = time.perf_counter()
    sessions = make_corpus(args.corpus, corpus_dir, chosen)
    total_minutes = sum(json.loads((s / "meta.json").read_text()).get("duration", 0.0) for s in sessions) / 60
    print(
        f"corpus {args.corpus}: {len(sessions)} meetings, {total_minutes:.1f} min, simulated in {time.perf_counter() - began:.0f} s",
        flush=True,
    )
    results = {}
    for name in args.configs.split(","):
        if name == "d_peer_senko" and not runpy.run_path(str(SYSTEMS))["senko_available"]():
            print(f"{name}: skipped (senko's diarizer or its dependencies are not installed)", flush=True)
            continue
        command = [sys.executable, str(SYSTEMS), "--run-config", name, "--out", str(out / name)]
        command += [str(s) for s in sessions]
        for override in args.overrides:
            command += ["--set", override]
        environment = dict(os.environ)
        if name == "z_before":  # the earlier revision's meetsep, imported ahead of this checkout's
            environment["PYTHONPATH"] = str(baseline_checkout(args.baseline_rev))
        started = time.perf_counter()
        if not (args.reuse and (out / name / "timing.json").is_file()):
            subprocess.run(command, check=True, env=environment)
        timing = json.loads((out / name / "timing.json").read_text())
        results[name] = dict(
            score(sessions, out / name),
            rtf=timing["wall"] / timing["audio_seconds"],
            peak_mb=timing["peak_mb"],
            stages={k: v / timing["audio_seconds"] for k, v in timing["stages"].items()},
        )
        print(f"{name}: done in {time.perf_counter() - started:.0f} s", flush=True)
    print_table(results)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=2, sort_keys=True))
    with open(out / "results.csv", "w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["config", "group", "value", *METRICS, "meetings"])
        for name, r in results.items():
            rows = [("total", "all", r["total"])] + [
                (key, value, group) for key, groups in r["by"].items() for value, group in groups.items()
            ]
            for key, value, group in rows:
                writer.writerow([name, key, value, *[group[m] for m in METRICS], group["meetings"]])
    print(f"\nwall time of the whole run: {time.perf_counter() - began:.0f} s; results in {out}")


OVERLAP_BANDS = (
    ("overlap >= 30 %", 29.5),
    ("overlap 20-30 %", 19.5),
    ("overlap 10-20 %", 9.5),
    ("overlap < 10 %", 0.0),
)
CONFIDENCE_BINS = ((0.0, 0.1), (0.1, 0.3), (0.3, 0.6), (0.6, 1.01))
METRICS = ("cpwer", "tcpwer", "orcwer", "der", "count_exact", "language_right")


def _row(name: str, group: dict[str, Any] | None) -> str:
    if group is None:
        return f"{name:<24}" + f"{'-':>9}" * len(METRICS)
    cells = [f"{100 * group[m]:>8.1f}%" if group[m] is not None else f"{'-':>9}" for m in METRICS[:4]]
    language = group.get("language_right")
    cells += [f"{group['count_exact']:>9.2f}", f"{language:>9.2f}" if language is not None else f"{'-':>9}"]
    return f"{name:<24}" + "".join(cells) + f"{group['meetings']:>6}"


def print_table(results: dict[str, Any]) -> None:
    columns = ("cpWER", "tcpWER", "orcWER", "DER", "count ok", "lang ok")
    header = f"{'':<24}" + "".join(f"{m:>9}" for m in columns) + f"{'n':>6}"
    print("\n" + header)
    for name, r in results.items():
        print(_row(name, r["total"]) + f"   RTF {r['rtf']:.2f}, peak {r['peak_mb']:.0f} MB")
    print("\nmeetings with >= 20 % overlap\n" + header)
    for name, r in results.items():
        print(_row(name, r["high_overlap"]))
    for key in ("family", "overlap", "band", "room"):
        print(f"\nby {key}\n" + header)
        values = list(next(iter(results.values()))["by"][key]) if results else []
        for value in values:
            for name, r in results.items():
                print(_row(f"{value} {name}", r["by"][key].get(value)))
    print("\nwhere the words are lost, by overlap band: cpWER / orcWER / DER (missed + false alarm + confusion)")
    for band, _ in OVERLAP_BANDS:
        for name, r in results.items():
            g = r["by"]["band"].get(band)
            if g is not None:
                words = "  ".join(f"{100 * g[m]:5.1f}%" if g[m] is not None else "    -" for m in ("cpwer", "orcwer"))
                print(
                    f"{band:<16} {name:<16} {words}  {100 * g['der']:5.1f}% ({100 * g['missed']:.1f} + "
                    f"{100 * g['false_alarm']:.1f} + {100 * g['confusion']:.1f})  n {g['meetings']}"
                )
    print("\nspeaker count exact by the transcript's speaker_count_confidence (sessions)")
    for name, r in results.items():
        told = [(x["count_confidence"], x["speaker_count_error"] == 0) for x in r["sessions"]]
        told = [(c, exact) for c, exact in told if c is not None]
        if told:
            cells = []
            for low, high in CONFIDENCE_BINS:
                group = [exact for c, exact in told if low <= c < high]
                cells.append(f"[{low:.2f}, {min(high, 1.0):.2f}) {sum(group)}/{len(group)}")
            print(f"{name:<16}" + "   ".join(cells))
    print("\nper-stage RTF (seconds of work per second of audio)")
    for name, r in results.items():
        print(f"{name:<16}" + "  ".join(f"{k} {v:.3f}" for k, v in r["stages"].items()))


if __name__ == "__main__":
    main()
