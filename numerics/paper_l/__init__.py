"""Numerics of paper L (LoRA and training-time attacks): NTKs, M_Delta spectra, information measures, attacks."""
