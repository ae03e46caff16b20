"""Plant simulator: devices speaking real protocols, and a seeded production history."""
