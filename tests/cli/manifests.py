"""Manifests shared by the CLI tests: two tiered namespaces, and a dev Secret mirroring a prod one; namespaces whose
security posture drifts between tiers (`parity`)."""

NAMESPACES = """\
apiVersion: v1
kind: Namespace
metadata: {name: dev, labels: {tierguard.io/tier: dev}}
---
apiVersion: v1
kind: Namespace
metadata: {name: prod, labels: {tierguard.io/tier: prod}}
"""
MIRROR = """\
apiVersion: v1
kind: Secret
metadata:
  name: db
  namespace: dev
  annotations: {reflector.v1.k8s.emberstack.com/reflects: prod/db}
"""
POSTURE_POLICY = """\
apiVersion: tierguard.io/v1alpha1
kind: TierPolicy
metadata: {name: default}
spec:
  sidecars:
    required: [{name: istio-proxy}]
  namespaces:
    requiredLabels: {pod-security.kubernetes.io/enforce: [baseline, restricted]}
    defaultDenyIngress: true
"""
POSTURE = """\
# dev enforces only baseline where prod enforces restricted; qa has no default-deny-ingress policy.
apiVersion: v1
kind: Namespace
metadata: {name: shop-dev, labels: {tierguard.io/tier: dev, pod-security.kubernetes.io/enforce: baseline}}
---
apiVersion: v1
kind: Namespace
metadata: {name: shop-qa, labels: {tierguard.io/tier: qa, pod-security.kubernetes.io/enforce: restricted}}
---
apiVersion: v1
kind: Namespace
metadata: {name: shop-prod, labels: {tierguard.io/tier: prod, pod-security.kubernetes.io/enforce: restricted}}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: default-deny, namespace: shop-dev}
spec: {podSelector: {}, policyTypes: [Ingress]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: default-deny, namespace: shop-prod}
spec: {podSelector: {}, policyTypes: [Ingress]}
---
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: shop-dev, labels: {app: web}}
spec: {containers: [{name: app, image: x}, {name: istio-proxy, image: x}]}
---
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: shop-prod, labels: {app: web}}
spec: {containers: [{name: app, image: x}, {name: istio-proxy, image: x}]}
"""
"""Every workload runs the sidecar; the posture alone is incomplete: shop-qa keeps no default-deny policy, and
dev (baseline) is weaker than prod (restricted) while within the policy."""
