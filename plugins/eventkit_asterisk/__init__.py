"""The asterisk provider (being built: see docs/providers/asterisk.md)."""
