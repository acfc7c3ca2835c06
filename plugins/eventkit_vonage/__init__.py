"""The vonage provider (being built: see docs/providers/vonage.md)."""
