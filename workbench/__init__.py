"""nlp-workbench: does an NLP optimization technique pay off on your data, and at what cost?"""

__version__ = "0.1.0"
