"""Numerics of paper H (LoRA and privacy via random projections): the projection mechanism, its privacy loss and audit, membership inference."""
