"""Mesh topology tools: PLY I/O, quadric decimation, spiral sequences, the Template bundle."""
