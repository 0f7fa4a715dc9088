"""Finding and loading models in one place: local folders, shipped weights, hub ids; safe readers of
checkpoints and configuration files, converters and ONNX export. Nothing here loads at import time."""
