"""Shared infrastructure only: recipes keep their own fixtures in their own files."""

pytest_plugins = ["postgres_provider"]
