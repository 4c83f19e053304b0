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


def add_training_data_arguments(parser, default_models: tuple[str, ...]) -> None:
    """``--root`` (the synthetic set by default), ``--models`` and ``--batch`` of the benchmarks
    that train on a FreiHAND-layout dataset (``data``, ``train``)."""
    from cmr import REPO_ROOT

    parser.add_argument("--root", default=str(REPO_ROOT / "data" / "FreiHAND_synth"),
                        help="dataset root laid out like FreiHAND (default: data/FreiHAND_synth in the repository)")
    parser.add_argument("--models", nargs="+", default=list(default_models),
                        help=f"any of {', '.join(CONFIGURED_MODELS)}, cmr_sg, cmr_pg, cmr_g (default: "
                             f"{' '.join(default_models)})")
    parser.add_argument("--batch", type=int, default=32)


def make_loader(dataset, batch: int, workers: int, batches: int):
    """A shuffling loader that yields ``batches`` full batches whatever the dataset size."""
    from torch.utils.data import DataLoader, RandomSampler

    sampler = RandomSampler(dataset, replacement=True, num_samples=batch * batches)
    return DataLoader(dataset, batch_size=batch, sampler=sampler, num_workers=workers, drop_last=True)
