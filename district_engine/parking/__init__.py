"""Smart parking: plates, tariffs (pure), sessions, payments and gate decisions."""
