"""Doctor rules, one module per topic."""
