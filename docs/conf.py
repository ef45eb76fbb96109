"""Sphinx configuration for django-taskq's documentation."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

project = "django-taskq"
author = "django-taskq developers"
copyright = "2026, django-taskq developers"
extensions = ["sphinx.ext.autodoc", "sphinx.ext.intersphinx"]
html_theme = "furo"
html_title = "django-taskq"
exclude_patterns = ["_build"]
intersphinx_mapping: dict[str, tuple[str, None]] = {}
