"""Browser tests (pytest -m e2e): JupyterLab, the widgets and the HTML reports in Debian's Chromium."""
