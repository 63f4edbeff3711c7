"""The notebooks shipped with the package: recipes that `workbench report` runs (see workbench.reports)."""
