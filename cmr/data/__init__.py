"""Data: FreiHAND-layout datasets (real and synthetic), crops, augmentation and targets."""
