"""Tests of mintlab._utils."""
