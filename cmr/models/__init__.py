"""CMR networks: encoders, 2-D heads, mesh decoders, losses and the official-checkpoint converter.

Entry point: :func:`cmr.models.build.build_model`.
"""
