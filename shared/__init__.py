"""HugMood's small common library: plumbing every process needs the same way, no domain code."""
