"""The embedded default: a synthetic dataset in the competition's layout, and how it compares
with real MediaPipe output.

`phrases` (what is spelled) → `handshapes` (real letters' hands: SILFA's signer and seven
photographed people) → `generator` (signers, cameras, timelines, frames; `write_dataset`) →
`report` (synthetic vs real statistics, the side-by-side picture).
"""
