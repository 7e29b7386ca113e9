"""Test helpers: fixture builders in the official checkpoint layouts, tool
runners and shared numerical checks."""
