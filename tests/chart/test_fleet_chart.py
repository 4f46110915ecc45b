"""What the chart renders for a fleet (docs/fleet.md): nothing without one; on the hub the CRD, the sets' role
bound to tierguard and to one account per other member (with its token Secret), and the policy keeping each
account to its own member's sets; on a member of a remote hub, the hub's kubeconfig mounted and passed."""

from __future__ import annotations

from typing import Any

import pytest

from .helm import Helm, all_of, kinds, only, render_cached

FULLNAME = "tg-tierguard"


def args(docs: list[dict[str, Any]]) -> list[str]:
    (container,) = only(docs, "Deployment")["spec"]["template"]["spec"]["containers"]
    return list(container["args"])


def test_no_fleet_renders_nothing_of_it(helm: Helm) -> None:
    docs = render_cached(helm)
    assert not [d for d in docs if "fleet" in d["metadata"]["name"]]
    assert not [a for a in args(docs) if a.startswith("--fleet")]


def test_the_hub_gets_the_crd_the_accounts_and_the_policy(helm: Helm) -> None:
    docs = render_cached(helm, sets={"fleet.member": "prod-eu", "fleet.hub.members": "{staging,qa-us}"})
    crd = only(docs, "CustomResourceDefinition", "fleetfingerprintsets.tierguard.io")
    assert crd["spec"]["scope"] == "Cluster" and crd["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    binding = only(docs, "ClusterRoleBinding", f"{FULLNAME}-fleet-sets")
    assert [s["name"] for s in binding["subjects"]] == [
        FULLNAME, f"{FULLNAME}-fleet-staging", f"{FULLNAME}-fleet-qa-us"]
    role = only(docs, "ClusterRole", f"{FULLNAME}-fleet-sets")
    assert role["rules"] == [{"apiGroups": ["tierguard.io"], "resources": ["fleetfingerprintsets"],
                              "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"]}]
    tokens = [d for d in all_of(docs, "Secret") if d.get("type") == "kubernetes.io/service-account-token"]
    assert sorted(t["metadata"]["annotations"]["kubernetes.io/service-account.name"] for t in tokens) == [
        f"{FULLNAME}-fleet-qa-us", f"{FULLNAME}-fleet-staging"]
    policy = only(docs, "ValidatingAdmissionPolicy", f"{FULLNAME}-fleet-own-sets")
    owners = policy["spec"]["variables"][0]["expression"]
    assert owners == ("{'system:serviceaccount:tierguard-system:tg-tierguard':'prod-eu',"
                      "'system:serviceaccount:tierguard-system:tg-tierguard-fleet-qa-us':'qa-us',"
                      "'system:serviceaccount:tierguard-system:tg-tierguard-fleet-staging':'staging'}")
    assert only(docs, "ValidatingAdmissionPolicyBinding", f"{FULLNAME}-fleet-own-sets")["spec"][
        "validationActions"] == ["Deny"]
    assert "--fleet-member=prod-eu" in args(docs) and not [a for a in args(docs) if "hub-kubeconfig" in a]
    heartbeats = only(docs, "RoleBinding", f"{FULLNAME}-fleet-heartbeats")
    assert [s["name"] for s in heartbeats["subjects"]] == [s["name"] for s in binding["subjects"]]
    assert only(docs, "Role", f"{FULLNAME}-fleet-heartbeats")["rules"][0]["resources"] == ["leases"]
    local = policy["spec"]["variables"][3]["expression"]
    assert local == "request.userInfo.username == 'system:serviceaccount:tierguard-system:tg-tierguard'"


def test_a_member_of_a_remote_hub_mounts_its_kubeconfig(helm: Helm) -> None:
    docs = render_cached(helm, sets={"fleet.member": "staging", "fleet.hub.kubeconfigSecret": "hub-access",
                                     "fleet.readIntervalSeconds": "5", "fleet.maxSetAgeSeconds": "120"})
    assert "CustomResourceDefinition" not in kinds(docs) or not [
        d for d in all_of(docs, "CustomResourceDefinition") if "fleet" in d["metadata"]["name"]]
    assert [a for a in args(docs) if a.startswith("--fleet")] == [
        "--fleet-member=staging", "--fleet-read-interval=5", "--fleet-publish-interval=30", "--fleet-max-age=120",
        "--fleet-hub-kubeconfig=/fleet-hub/kubeconfig", "--fleet-hub-namespace=tierguard-system"]
    spec = only(docs, "Deployment")["spec"]["template"]["spec"]
    (volume,) = [v for v in spec["volumes"] if v["name"] == "fleet-hub"]
    assert volume["secret"]["secretName"] == "hub-access"
    assert {"name": "fleet-hub", "mountPath": "/fleet-hub", "readOnly": True} in spec["containers"][0]["volumeMounts"]


@pytest.mark.parametrize("member", ["Prod", "prod_eu", "-prod"])
def test_a_member_name_that_cannot_name_objects_is_refused_by_the_schema(helm: Helm, member: str) -> None:
    with pytest.raises(AssertionError, match="fleet"):
        render_cached(helm, sets={"fleet.member": member})


@pytest.mark.parametrize("sets", [{"fleet.member": "prod-eu", "fleet.hub.members": "{staging}"},
                                  {"fleet.member": "staging", "fleet.hub.kubeconfigSecret": "hub-access"}])
def test_every_cluster_role_binding_of_the_release_is_spared_the_webhook(helm: Helm, sets: dict[str, str]) -> None:
    """helm upgrade while no replica runs (docs/reliability.md): the release's ClusterRoleBindings, the hub's
    sets' binding among them, are never sent to the fail-closed webhook; a member without it names none more."""
    docs = render_cached(helm, sets=sets)
    bindings = sorted(b["metadata"]["name"] for b in all_of(docs, "ClusterRoleBinding"))
    (entry,) = [w for w in only(docs, "ValidatingWebhookConfiguration")["webhooks"]
                if w["name"] == "clusterrolebindings.tierguard.io"]
    (condition,) = entry["matchConditions"]
    assert condition["expression"] == " && ".join(f"request.name != '{name}'" for name in bindings)
    assert (f"{FULLNAME}-fleet-sets" in bindings) == ("fleet.hub.members" in sets)
