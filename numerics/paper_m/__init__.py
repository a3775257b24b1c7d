"""Numerics of paper M (LoRA and privacy): the LoRA-FA noise, Berry-Esseen distances, privacy accounting."""
