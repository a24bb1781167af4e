"""Errors the social service raises, each with a stable code."""
