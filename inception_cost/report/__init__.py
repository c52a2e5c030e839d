"""Presentation: renderers read plain data (DataFrames), never count."""
