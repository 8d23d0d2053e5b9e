"""Widgets of the avstudio TUI, one per module."""
