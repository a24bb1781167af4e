"""Mood business logic."""
