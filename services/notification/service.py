"""Notification business logic."""
