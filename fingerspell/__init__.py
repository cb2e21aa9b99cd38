"""ASL fingerspelling recognition from MediaPipe landmarks, in the Kaggle competition's format."""

__version__ = "0.1.0"
