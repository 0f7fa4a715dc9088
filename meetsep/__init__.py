"""meetsep: speaker-attributed transcripts of meetings and calls, including overlapped speech.

Python API (the CLI mirrors it)::

    import meetsep
    transcript = meetsep.transcribe("meeting.flac", num_speakers=3)
    pipeline = meetsep.Pipeline(meetsep.load_config(["call_center_stereo"]))  # load models once
    for path in paths:
        pipeline(path).turns

Importing meetsep loads no model and touches no network.
"""

from __future__ import annotations

import os

from meetsep.version import __version__

# Offline and telemetry-free by default, decided before pyannote / huggingface_hub are imported.
os.environ.setdefault("PYANNOTE_METRICS_ENABLED", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from meetsep.core.logs import silence_known_warnings  # noqa: E402

silence_known_warnings()  # third-party warnings a meetsep user cannot act on (shown under --verbose)

from meetsep.core.config import PipelineConfig  # noqa: E402
from meetsep.core.errors import AudioInputError, ConfigError, MeetsepError, ModelNotFoundError  # noqa: E402
from meetsep.core.presets import load_config  # noqa: E402
from meetsep.core.records import Recording  # noqa: E402
from meetsep.schema import ChannelLayout, SpeakerSegment, Transcript, Turn, Word  # noqa: E402


def __getattr__(name: str):  # lazy: the pipeline module imports the stage modules
    if name in ("Pipeline", "transcribe"):
        from meetsep import pipeline

        return getattr(pipeline, name)
    if name == "enroll":
        from meetsep.enrollment import enroll

        return enroll
    if name in ("SpeakerDB", "SpeakerDBError"):
        from meetsep.io import speaker_db

        return getattr(speaker_db, name)
    raise AttributeError(name)


__all__ = [
    "AudioInputError",
    "ChannelLayout",
    "ConfigError",
    "MeetsepError",
    "ModelNotFoundError",
    "Pipeline",
    "PipelineConfig",
    "Recording",
    "SpeakerDB",
    "SpeakerDBError",
    "SpeakerSegment",
    "Transcript",
    "Turn",
    "Word",
    "__version__",
    "enroll",
    "load_config",
    "transcribe",
]
