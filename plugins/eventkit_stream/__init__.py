"""The stream provider (being built: see docs/providers/stream.md)."""
