"""rx.State classes: thin; validate input, authorise, call services, set vars."""
