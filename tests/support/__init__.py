"""Shared test support (fixtures, seeders, fake servers): imported as `support.<module>` (pytest's
`pythonpath = ["tests"]`), never through sys.path.insert; no tests here."""
