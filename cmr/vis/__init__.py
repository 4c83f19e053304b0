"""Visualisation: mesh drawings for previews, plots and overlays."""
