"""Recipes: one folder per async testing pattern."""
