"""Recreate the bundled example, examples/meeting/: a 4-microphone simulated meeting with overlaps.

    python pipelines/make_example.py            # writes examples/meeting/ exactly as committed

Three clearly distinct voices (flite slt, awb, rms), 12 sentences, about 18 % overlapped speech,
a 6 x 5 x 3 m room with RT60 0.3 s, a circular array of 4 mics (radius 5 cm), white noise at 30 dB SNR.
The speaker images are not kept (the folder stays small); the reference SegLST and RTTM are.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from meetsep.sim.simulate import SimulationConfig, simulate_meeting, write_meeting

CONFIG = SimulationConfig(
    seed=7,
    num_speakers=3,
    voices=["flite:slt", "flite:awb", "flite:rms"],
    num_sentences=12,
    overlap_ratio=0.18,
    rt60=0.3,
    num_mics=4,
    array="circular",
    array_radius=0.05,
    snr_db=30.0,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent / "examples" / "meeting")
    args = parser.parse_args()
    meeting = simulate_meeting(CONFIG, session_id="mix")
    write_meeting(meeting, args.out)
    shutil.rmtree(args.out / "speakers")
    readme = f"""# Bundled example: a simulated 4-microphone meeting

Made by `python pipelines/make_example.py` (meetsep.sim.simulate), deterministic from this config:

```json
{json.dumps(CONFIG.model_dump(mode="json"), indent=2)}
```

- `mix.flac`: 4 channels, {meeting.sample_rate} Hz, {meeting.metadata["duration"]:.1f} s, 16-bit FLAC.
- `reference.seglst.json`, `reference.rttm`: one entry per sentence (speakers spk0 = flite slt,
  spk1 = flite awb, spk2 = flite rms), times trimmed to the audible speech.
- `meta.json`: config, voices (with pitch/tempo changes), room and array geometry, measured overlap
  ratio ({meeting.metadata["overlap_ratio"]:.3f} of the speech time).

Try it: `meetsep transcribe examples/meeting/mix.flac --out OUT --format seglst,rttm,srt`, then
`meetsep evaluate examples/meeting/reference.seglst.json OUT/mix.seglst.json`.
"""
    (args.out / "README.md").write_text(readme)
    print(f"{args.out}: {meeting.metadata['duration']:.1f} s, overlap ratio {meeting.metadata['overlap_ratio']:.3f}")


if __name__ == "__main__":
    main()
