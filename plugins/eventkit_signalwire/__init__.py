"""The signalwire provider (being built: see docs/providers/signalwire.md)."""
