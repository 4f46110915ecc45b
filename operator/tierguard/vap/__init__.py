"""ValidatingAdmissionPolicies from a TierPolicy: tierguard's second line of defence, evaluated by the API server
itself (``generate.py``: pure; ``cel.py``: CEL text). Applying them is the webhook's job (``webhook/vap_sync.py``).
"""

from tierguard.vap.generate import Options, generate, managed_names

__all__ = ["Options", "generate", "managed_names"]
