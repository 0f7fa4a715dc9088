"""Make the asteroid ConvTasNet fixtures used by tests/test_asteroid_convtasnet.py.

Not run by the tests. Run it in a throwaway virtual environment that has real asteroid, e.g.::

    python3.11 -m venv /tmp/astvenv
    /tmp/astvenv/bin/pip install torch==2.13.0
    /tmp/astvenv/bin/pip install --no-deps asteroid asteroid-filterbanks
    /tmp/astvenv/bin/pip install -c <(echo torch==2.13.0) pytorch-lightning numpy soundfile \
        huggingface_hub requests julius packaging
    /tmp/astvenv/bin/python tests/data/make_asteroid_fixture.py

It writes, beside itself:

- ``asteroid_convtasnet_tiny.pth``: ``torch.save(model.serialize())`` of a tiny seeded ConvTasNet
  (2 sources, 16 free filters of 16 taps, stride 8, gLN, sigmoid masks, 16 kHz);
- ``asteroid_convtasnet_tiny.npz``: seeded inputs ``even_input`` ``(2, 1600)`` (a multiple of the
  stride) and ``odd_input`` ``(1, 1603)`` (not one: asteroid right-pads the decoded signal) with
  asteroid's outputs ``(batch, 2, time)``, plus ``single_input`` ``(801,)`` and its output
  ``(2, 801)`` for 1-D input.

asteroid's ``serialize()`` stores ``torch.__version__``, a ``torch.torch_version.TorchVersion``,
in ``infos``: plain ``torch.load(weights_only=True)`` refuses that global, so the loader allows it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from asteroid.models import ConvTasNet

HERE = Path(__file__).resolve().parent


def main() -> None:
    torch.manual_seed(0)
    model = ConvTasNet(
        n_src=2,
        n_filters=16,
        kernel_size=16,
        stride=8,
        bn_chan=8,
        hid_chan=16,
        skip_chan=8,
        n_blocks=2,
        n_repeats=1,
        sample_rate=16000,
    )
    # Freshly initialised norms are identity (gamma 1, beta 0): perturb every parameter so that a
    # wrong gain/bias wiring would show in the outputs.
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.1 * torch.randn_like(parameter))
    model.eval()
    torch.save(model.serialize(), HERE / "asteroid_convtasnet_tiny.pth")

    generator = torch.Generator().manual_seed(1)
    arrays = {}
    with torch.no_grad():
        for name, batch, length in (("even", 2, 1600), ("odd", 1, 1603)):
            wav = 0.3 * torch.randn(batch, length, generator=generator)
            arrays[f"{name}_input"] = wav.numpy()
            arrays[f"{name}_output"] = model(wav).numpy()
        wav = 0.3 * torch.randn(801, generator=generator)
        arrays["single_input"] = wav.numpy()
        arrays["single_output"] = model(wav).numpy()
    np.savez_compressed(HERE / "asteroid_convtasnet_tiny.npz", **arrays)
    import asteroid

    print("asteroid", asteroid.__version__, "torch", torch.__version__, {k: v.shape for k, v in arrays.items()})


if __name__ == "__main__":
    main()
