"""Errors the user service raises, each with a stable code."""
