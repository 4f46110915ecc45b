"""tierguard: tier isolation and security-sidecar parity for Kubernetes, at admission time and offline."""

__version__ = "0.1.0"
