"""Shared helpers of every stage: argument checks, atomic files and cache keys, device and threads."""
