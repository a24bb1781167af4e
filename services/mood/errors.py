"""Errors the mood service raises, each with a stable code."""
