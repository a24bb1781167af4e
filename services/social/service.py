"""Social business logic."""
