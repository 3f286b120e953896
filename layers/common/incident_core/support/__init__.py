"""Small shared helpers, imported by any layer; they import nothing of the bundle but its errors."""
