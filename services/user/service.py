"""User business logic."""
