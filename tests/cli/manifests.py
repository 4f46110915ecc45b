"""Manifests shared by the CLI tests: two tiered namespaces, and a dev Secret mirroring a prod one."""

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
