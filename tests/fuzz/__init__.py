"""Fuzz harnesses, one per parser that takes input from outside (issue 11); see ``_core``."""
