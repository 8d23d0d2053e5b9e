"""Screens of the avstudio TUI, one per module."""
