"""Business rules over a SQLModel Session. Nothing here imports Reflex."""
