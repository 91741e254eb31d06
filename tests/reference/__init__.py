"""Straightforward reference implementations of optimised stages."""
