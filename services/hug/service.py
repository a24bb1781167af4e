"""Hug business logic."""
