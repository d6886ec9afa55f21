"""Tests of the store contract, on both backends."""
