"""Where the UI's files live: templates, static files, preset recipes and plotly.js."""

from __future__ import annotations

from pathlib import Path

import plotly

REPO_ROOT = Path(__file__).resolve().parents[2]
WEB_DIR = REPO_ROOT / "web"
TEMPLATES_DIR = WEB_DIR / "templates"
STATIC_DIR = WEB_DIR / "static"
RECIPES_DIR = REPO_ROOT / "recipes"
# plotly.js ships inside the Python package: no CDN, no vendored copy, works offline.
PLOTLY_JS = Path(plotly.__file__).resolve().parent / "package_data" / "plotly.min.js"
PLOTLY_URL = f"/ui/plotly-{plotly.__version__}.min.js"
