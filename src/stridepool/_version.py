"""The one version string of stridepool."""

__version__: str = "0.1.0"
