"""Benchmarks of cmr components: ``python -m cmr bench <name>`` (``python -m cmr bench --help``)."""


def model_config(name: str):
    """The configuration of a benchmarked model: ``'compact'`` (configs/compact.yaml) or a variant
    name (``'cmr_sg'``, ``'cmr_pg'``, ``'cmr_g'``, at the defaults)."""
    from cmr.config import load_cfg

    if name == "compact":
        return load_cfg("configs/compact.yaml", freeze=False)
    return load_cfg(None, ["MODEL.NAME", name], freeze=False)
