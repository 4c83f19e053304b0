"""Benchmarks of cmr components: ``python -m cmr bench <name>`` (``python -m cmr bench --help``)."""


#: Benchmark names of the models with a configuration file of their own.
CONFIGURED_MODELS = ("compact", "lite")


def model_config(name: str):
    """The configuration of a benchmarked model: ``'compact'`` or ``'lite'`` (configs/<name>.yaml)
    or a variant name (``'cmr_sg'``, ``'cmr_pg'``, ``'cmr_g'``, at the defaults)."""
    from cmr.config import load_cfg

    if name in CONFIGURED_MODELS:
        return load_cfg(f"configs/{name}.yaml", freeze=False)
    return load_cfg(None, ["MODEL.NAME", name], freeze=False)
