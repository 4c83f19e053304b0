"""Engine: training (single process and torchrun DDP), checkpoints, evaluation, demo."""
