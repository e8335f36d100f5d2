"""charrnn's version: a leaf any module may import (pyproject.toml reads it from here)."""

__version__ = "0.1.0"
