"""The package's version, in a module of its own so that anything may read it without loading the package."""
__version__ = "0.1.0"
