"""Data shipped with the package: the character map, recipes, handshape templates, MediaPipe's
requirements and a copy of the SILFA letters (real MediaPipe output; `silfa/README.md`)."""

from pathlib import Path

SILFA = Path(__file__).resolve().parent / "silfa"
