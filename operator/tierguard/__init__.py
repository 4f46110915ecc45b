"""tierguard: tier isolation and security-sidecar parity for Kubernetes, at admission time and offline."""

# The one version source: pyproject (dynamic), the image tag and the chart follow it (docs/release.md).
__version__ = "0.2.0"
