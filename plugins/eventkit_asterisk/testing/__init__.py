"""Asterisk on loopback: the emulator (``.emulator``) and the sandbox (``.sandbox``).

Built on the vendor-neutral kit in :mod:`eventkit.testing`; nothing here is imported
by the provider itself, and importing this package starts nothing.
"""
