"""Wire formats: one module per format, pure functions (see base.py)."""
