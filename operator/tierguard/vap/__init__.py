"""ValidatingAdmissionPolicies from a TierPolicy: tierguard's second line of defence, evaluated by the API server
itself (``generate.py``: pure; ``cel.py``: CEL text; ``static.py``: the namespace rules as the API server's static
manifests). Applying them is the webhook's job (``webhook/vap_sync.py``); writing static ones, the
``admission-policies`` command's.
"""

from tierguard.vap.generate import Options, generate, managed_names
from tierguard.vap.static import generate_static

__all__ = ["Options", "generate", "generate_static", "managed_names"]
