"""Shared helpers of every stage (public): argument checks, atomic files, cache keys, device, threads, provenance."""
