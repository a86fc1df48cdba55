"""Tests of mintlab.utils."""
