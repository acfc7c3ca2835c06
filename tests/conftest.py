"""Shared test setup: nothing here may reach beyond loopback."""
