"""PyTorch networks exported once to ONNX and run by ONNX Runtime (CAM++, the segmentation network).

The graph is written beside meetsep's model cache, named by the weights' content and the torch and
onnxruntime versions, so a machine exports each network once; callers fall back to PyTorch when the
export fails (``onnx`` missing, an operator the exporter lacks). Outputs are checked against
PyTorch's by the tests of the stages that use them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def onnx_session(
    name: str,
    weights: Path,
    folder: Path,
    network: Any,
    example: Any,
    names: tuple[str, str, dict[int, str]],
    threads: int,
    arena: bool = True,
) -> Any:
    """``network()`` (weights from the file ``weights``) exported to ONNX in ``folder`` (input
    ``names[0]`` shaped like ``example``, output ``names[1]``, dynamic axes ``names[2]`` of the input)
    and opened in ONNX Runtime on ``threads`` threads (``arena``: memory kept between calls for reuse,
    else freed after each); None when the export fails."""
    import hashlib
    import io
    import logging
    import warnings

    import onnxruntime
    import torch

    from meetsep.io.files import atomic_write_bytes

    digest = hashlib.sha256(weights.read_bytes()).hexdigest()[:16]
    versions = f"torch{torch.__version__.split('+')[0]}-ort{onnxruntime.__version__}"
    target = folder / f"{name}-{digest}-{versions}.onnx"
    graph: str | bytes = str(target)
    if not target.is_file():
        source, result, axes = names
        buffer = io.BytesIO()
        try:  # the exporter's deprecation notes and shape caveats (checked by tests on outputs) stay quiet
            with torch.backends.mkldnn.flags(enabled=False), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                torch.onnx.export(
                    network(),
                    (example,),
                    buffer,
                    input_names=[source],
                    output_names=[result],
                    dynamic_axes={source: axes, result: {0: axes[0]}} if 0 in axes else {source: axes},
                    opset_version=17,
                    dynamo=False,
                )
        except Exception as error:  # onnx not installed, an operator the exporter lacks, ...
            detail = " ".join(str(error).split())[:200] or type(error).__name__
            logging.getLogger("meetsep").warning("%s runs in PyTorch: ONNX export failed (%s)", name, detail)
            return None
        graph = buffer.getvalue()
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(target, graph)
        except OSError as error:  # a read-only cache: used from memory, exported again next time
            logging.getLogger("meetsep").info("%s: ONNX graph not kept in %s (%s)", name, folder, error)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.enable_cpu_mem_arena = arena
    return onnxruntime.InferenceSession(graph, options, providers=["CPUExecutionProvider"])
