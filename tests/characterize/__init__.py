"""Tests of mintlab.characterize (mirrors the package)."""
