"""beeplan: configuration as code for Beebole."""

__version__ = "0.1.0"
