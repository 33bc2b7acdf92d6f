"""Analyses shared by rules: C syntax helpers, type resolution, call graphs."""
