"""Vendor emulators: one module per platform, each a loopback server."""
