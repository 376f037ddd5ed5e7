"""The one version string of stridepool."""

__version__ = "0.1.0"
