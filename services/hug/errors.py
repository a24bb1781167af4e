"""Errors the hug service raises, each with a stable code."""
