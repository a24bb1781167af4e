"""Errors the notification service raises, each with a stable code."""
