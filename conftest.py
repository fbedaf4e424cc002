"""This repo's own pytest configuration lives in pyproject.toml; the catalogue's fixtures come
from the plugin (``readiness.fixtures``), so the catalogue runs the same in any folder."""
