{{/*
Helpers of the tierguard chart, named tierguard.<component>.<thing>.
*/}}

{{/* ---- chart: names and labels ------------------------------------------------------------------------- */}}

{{- define "tierguard.chart.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
The prefix of every object name. Truncated to 52 characters so that suffixed names ("-tls", "-ca-issuer")
stay within the 63 characters of a label value and a Service name.
*/}}
{{- define "tierguard.chart.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 52 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 52 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 52 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "tierguard.chart.selectorLabels" -}}
app.kubernetes.io/name: {{ include "tierguard.chart.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "tierguard.chart.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "tierguard.chart.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: tierguard
{{- end -}}

{{/* ---- deployment ----------------------------------------------------------------------------------------- */}}

{{- define "tierguard.deployment.image" -}}
{{- $ref := printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- /* With a digest the node pulls exactly that image; the tag stays for the reader. */ -}}
{{- if .Values.image.digest }}{{ $ref = printf "%s@%s" $ref .Values.image.digest }}{{ end -}}
{{- $ref -}}
{{- end -}}

{{/* The pod's affinity: `affinity` merged with the anti-affinity chosen by `podAntiAffinity`. */}}
{{- define "tierguard.deployment.affinity" -}}
{{- $affinity := deepCopy .Values.affinity -}}
{{- if and (not (hasKey $affinity "podAntiAffinity")) (ne .Values.podAntiAffinity "none") -}}
{{- $term := dict "topologyKey" "kubernetes.io/hostname" "labelSelector" (dict "matchLabels" (include "tierguard.chart.selectorLabels" . | fromYaml)) -}}
{{- if eq .Values.podAntiAffinity "hard" -}}
{{- $_ := set $affinity "podAntiAffinity" (dict "requiredDuringSchedulingIgnoredDuringExecution" (list $term)) -}}
{{- else -}}
{{- $_ := set $affinity "podAntiAffinity" (dict "preferredDuringSchedulingIgnoredDuringExecution" (list (dict "weight" 100 "podAffinityTerm" $term))) -}}
{{- end -}}
{{- end -}}
{{- if $affinity -}}
{{- toYaml $affinity -}}
{{- end -}}
{{- end -}}

{{/* topologySpreadConstraints, each given a labelSelector for this release's pods unless it has one. */}}
{{- define "tierguard.deployment.topologySpreadConstraints" -}}
{{- $constraints := list -}}
{{- range .Values.topologySpreadConstraints -}}
{{- $constraint := deepCopy . -}}
{{- if not (hasKey $constraint "labelSelector") -}}
{{- $_ := set $constraint "labelSelector" (dict "matchLabels" (include "tierguard.chart.selectorLabels" $ | fromYaml)) -}}
{{- end -}}
{{- $constraints = append $constraints $constraint -}}
{{- end -}}
{{- if $constraints -}}
{{- toYaml $constraints -}}
{{- end -}}
{{- end -}}

{{/* ---- rbac --------------------------------------------------------------------------------------------- */}}

{{- define "tierguard.rbac.serviceAccountName" -}}
{{- include "tierguard.chart.fullname" . -}}
{{- end -}}

{{/* ---- webhook ------------------------------------------------------------------------------------------ */}}

{{- define "tierguard.webhook.serviceName" -}}
{{- include "tierguard.chart.fullname" . -}}
{{- end -}}

{{/* The DNS names the serving certificate is valid for; the API server connects to <service>.<ns>.svc. */}}
{{- define "tierguard.webhook.dnsNames" -}}
{{- $svc := include "tierguard.webhook.serviceName" . -}}
{{- $ns := .Release.Namespace -}}
{{- toJson (list $svc (printf "%s.%s" $svc $ns) (printf "%s.%s.svc" $svc $ns) (printf "%s.%s.svc.cluster.local" $svc $ns)) -}}
{{- end -}}

{{/*
THE list of admission handlers: one row per route of ROUTES in operator/tierguard/webhook/routes.py (derived
from the judged rows of operator/tierguard/kinds.py), in the same order, with the same id, group, version,
resource, operations and scope. The ValidatingWebhookConfiguration renders one entry per row, served at /<id>;
tests/chart/test_routes.py fails when the two tables differ. Nothing else (leases, events, nodes, tokenreviews, ...) is ever intercepted.
CONNECT is intercepted only for the session subresources (pods/exec, pods/attach, pods/portforward:
session-cross-tier); DELETE only for the rows that judge it (tierpolicies: namespace-tier-assignment;
networkpolicies: namespace-security-missing).
A row with a `field` (kinds.BY_FIELD: Crossplane's connection Secrets, whose kinds have no fixed group) has every
group, version and resource of either scope, narrowed by a matchCondition to objects carrying the field, and is
rendered only when its `value` (crossplane.enabled) is on.
Returned as YAML `{handlers: [...]}` for fromYaml.
*/}}
{{- define "tierguard.webhook.handlers" -}}
handlers:
  - {id: namespaces,               group: "",                            version: v1,  resource: namespaces,               scope: Cluster,    operations: [CREATE, UPDATE]}
  - {id: secrets,                  group: "",                            version: v1,  resource: secrets,                  scope: Namespaced, operations: [CREATE, UPDATE]}
  - {id: pods,                     group: "",                            version: v1,  resource: pods,                     scope: Namespaced, operations: [CREATE, UPDATE]}
  - {id: pods-ephemeralcontainers, group: "",                            version: v1,  resource: pods/ephemeralcontainers, scope: Namespaced, operations: [UPDATE]}
  - {id: pods-exec,                group: "",                            version: v1,  resource: pods/exec,                scope: Namespaced, operations: [CONNECT]}
  - {id: pods-attach,              group: "",                            version: v1,  resource: pods/attach,              scope: Namespaced, operations: [CONNECT]}
  - {id: pods-portforward,         group: "",                            version: v1,  resource: pods/portforward,         scope: Namespaced, operations: [CONNECT]}
  - {id: replicationcontrollers,   group: "",                            version: v1,  resource: replicationcontrollers,   scope: Namespaced, operations: [CREATE, UPDATE]}
  - {id: deployments,              group: apps,                          version: v1,  resource: deployments,              scope: Namespaced, operations: [CREATE, UPDATE]}
  - {id: statefulsets,             group: apps,                          version: v1,  resource: statefulsets,             scope: Namespaced, operations: [CREATE, UPDATE]}
  - {id: daemonsets,               group: apps,                          version: v1,  resource: daemonsets,               scope: Namespaced, operations: [CREATE, UPDATE]}
  - {id: replicasets,              group: apps,                          version: v1,  resource: replicasets,              scope: Namespaced, operations: [CREATE, UPDATE]}
  - {id: jobs,                     group: batch,                         version: v1,  resource: jobs,                     scope: Namespaced, operations: [CREATE, UPDATE]}
  - {id: cronjobs,                 group: batch,                         version: v1,  resource: cronjobs,                 scope: Namespaced, operations: [CREATE, UPDATE]}
  - {id: rolebindings,             group: rbac.authorization.k8s.io,     version: v1,  resource: rolebindings,             scope: Namespaced, operations: [CREATE, UPDATE]}
  - {id: clusterrolebindings,      group: rbac.authorization.k8s.io,     version: v1,  resource: clusterrolebindings,      scope: Cluster,    operations: [CREATE, UPDATE]}
  - {id: persistentvolumes,        group: "",                            version: v1,  resource: persistentvolumes,        scope: Cluster,    operations: [CREATE, UPDATE]}
  - {id: storageclasses,           group: storage.k8s.io,                version: v1,  resource: storageclasses,           scope: Cluster,    operations: [CREATE, UPDATE]}
  - {id: referencegrants,          group: gateway.networking.k8s.io,     version: "*", resource: referencegrants,          scope: Namespaced, operations: [CREATE, UPDATE]}
  - {id: secretproviderclasses,    group: secrets-store.csi.x-k8s.io,    version: "*", resource: secretproviderclasses,    scope: Namespaced, operations: [CREATE, UPDATE]}
  - {id: externalsecrets,          group: external-secrets.io,           version: "*", resource: externalsecrets,          scope: Namespaced, operations: [CREATE, UPDATE]}
  - {id: clusterexternalsecrets,   group: external-secrets.io,           version: "*", resource: clusterexternalsecrets,   scope: Cluster,    operations: [CREATE, UPDATE]}
  - {id: pushsecrets,              group: external-secrets.io,           version: "*", resource: pushsecrets,              scope: Namespaced, operations: [CREATE, UPDATE]}
  - {id: clusterpushsecrets,       group: external-secrets.io,           version: "*", resource: clusterpushsecrets,       scope: Cluster,    operations: [CREATE, UPDATE]}
  - {id: secretstores,             group: external-secrets.io,           version: "*", resource: secretstores,             scope: Namespaced, operations: [CREATE, UPDATE]}
  - {id: clustersecretstores,      group: external-secrets.io,           version: "*", resource: clustersecretstores,      scope: Cluster,    operations: [CREATE, UPDATE]}
  - {id: sealedsecrets,            group: bitnami.com,                   version: "*", resource: sealedsecrets,            scope: Namespaced, operations: [CREATE, UPDATE]}
  - {id: vaultstaticsecrets,       group: secrets.hashicorp.com,         version: "*", resource: vaultstaticsecrets,       scope: Namespaced, operations: [CREATE, UPDATE]}
  - {id: vaultdynamicsecrets,      group: secrets.hashicorp.com,         version: "*", resource: vaultdynamicsecrets,      scope: Namespaced, operations: [CREATE, UPDATE]}
  - {id: vaultpkisecrets,          group: secrets.hashicorp.com,         version: "*", resource: vaultpkisecrets,          scope: Namespaced, operations: [CREATE, UPDATE]}
  - {id: vaultauths,               group: secrets.hashicorp.com,         version: "*", resource: vaultauths,               scope: Namespaced, operations: [CREATE, UPDATE]}
  - {id: vaultauthglobals,         group: secrets.hashicorp.com,         version: "*", resource: vaultauthglobals,         scope: Namespaced, operations: [CREATE, UPDATE]}
  - {id: hcpauths,                 group: secrets.hashicorp.com,         version: "*", resource: hcpauths,                 scope: Namespaced, operations: [CREATE, UPDATE]}
  - {id: hcpvaultsecretsapps,      group: secrets.hashicorp.com,         version: "*", resource: hcpvaultsecretsapps,      scope: Namespaced, operations: [CREATE, UPDATE]}
  - {id: generators-vaultdynamicsecrets, group: generators.external-secrets.io, version: "*", resource: vaultdynamicsecrets, scope: Namespaced, operations: [CREATE, UPDATE]}
  - {id: clustergenerators,        group: generators.external-secrets.io, version: "*", resource: clustergenerators,       scope: Cluster,    operations: [CREATE, UPDATE]}
  - {id: helmreleases,             group: helm.toolkit.fluxcd.io,        version: "*", resource: helmreleases,             scope: Namespaced, operations: [CREATE, UPDATE]}
  - {id: kustomizations,           group: kustomize.toolkit.fluxcd.io,   version: "*", resource: kustomizations,           scope: Namespaced, operations: [CREATE, UPDATE]}
  - {id: certificates,             group: cert-manager.io,               version: "*", resource: certificates,             scope: Namespaced, operations: [CREATE, UPDATE]}
  - {id: ingresses,                group: networking.k8s.io,             version: v1,  resource: ingresses,                scope: Namespaced, operations: [CREATE, UPDATE]}
  - {id: gateways,                 group: gateway.networking.k8s.io,     version: "*", resource: gateways,                 scope: Namespaced, operations: [CREATE, UPDATE]}
  - {id: listenersets,             group: gateway.networking.k8s.io,     version: "*", resource: listenersets,             scope: Namespaced, operations: [CREATE, UPDATE]}
  - {id: clusterpolicies,          group: kyverno.io,                    version: "*", resource: clusterpolicies,          scope: Cluster,    operations: [CREATE, UPDATE]}
  - {id: generatingpolicies,       group: policies.kyverno.io,           version: "*", resource: generatingpolicies,       scope: Cluster,    operations: [CREATE, UPDATE]}
  - {id: namespacedgeneratingpolicies, group: policies.kyverno.io,       version: "*", resource: namespacedgeneratingpolicies, scope: Namespaced, operations: [CREATE, UPDATE]}
  - {id: compositions,             group: apiextensions.crossplane.io,   version: "*", resource: compositions,             scope: Cluster,    operations: [CREATE, UPDATE]}
  - {id: xp-kubernetes-objects,    group: kubernetes.crossplane.io,      version: "*", resource: objects,                  scope: Cluster,    operations: [CREATE, UPDATE]}
  - {id: xp-kubernetes-m-objects,  group: kubernetes.m.crossplane.io,    version: "*", resource: objects,                  scope: Namespaced, operations: [CREATE, UPDATE]}
  - {id: tierpolicies,             group: tierguard.io,                  version: "*", resource: tierpolicies,             scope: Cluster,    operations: [CREATE, UPDATE, DELETE]}
  - {id: networkpolicies,          group: networking.k8s.io,             version: v1,  resource: networkpolicies,          scope: Namespaced, operations: [CREATE, UPDATE, DELETE]}
  - {id: crossplane-connection-secrets, group: "*",                      version: "*", resource: "*",                      scope: "*",        operations: [CREATE, UPDATE], field: spec.writeConnectionSecretToRef, value: crossplane}
{{- end -}}

{{/*
The CEL matchCondition of a field's entry: true only for an object carrying the field (a dotted path from the
object's root). It never errs: each step checks that what it descends into is a map, so a ConfigMap, a Lease or
a custom resource whose spec is a string or null gives false (an erring condition would refuse the write under
failurePolicy Fail). Argument: the dotted path.
*/}}
{{- define "tierguard.webhook.fieldCondition" -}}
{{- $at := "object" -}}
{{- $terms := list "object != null" -}}
{{- range $part := splitList "." . -}}
{{- $terms = append $terms (printf "type(%s) == map" $at) -}}
{{- $terms = append $terms (printf "has(%s.%s)" $at $part) -}}
{{- $at = printf "%s.%s" $at $part -}}
{{- end -}}
{{- join " && " $terms -}}
{{- end -}}

{{/*
Namespace names the API server never sends to tierguard: the exempt namespaces of the policy that are plain
names (globs such as "team-*-sandbox" cannot be expressed in a label selector and are left to tierguard),
plus the release namespace, which tierguard itself needs writable (its Secrets, its Pods).
*/}}
{{- define "tierguard.webhook.exemptNamespaceNames" -}}
{{- $names := list -}}
{{- range ((.Values.policy.exemptions).namespaces | default list) -}}
{{- if regexMatch "^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$" . -}}
{{- $names = append $names . -}}
{{- end -}}
{{- end -}}
{{- $names = append $names .Release.Namespace -}}
{{- toJson ($names | uniq) -}}
{{- end -}}

{{/*
namespaceSelector of one entry. Namespaced kinds: only tiered namespaces (the tier label exists) that are not
exempt. The Namespace entry: no tier-label requirement, since an UPDATE that removes the tier label must still
be judged (for a Namespace object the selector matches the object's own labels), but exempt names are still
excluded. Cluster-scoped kinds: none (a namespaceSelector does not apply to them). A field's entry of either
scope ("*"): the namespaced kinds' selector, which the API server applies to namespaced objects only.
Argument: dict "root" $ "handler" <row>.
*/}}
{{- define "tierguard.webhook.namespaceSelector" -}}
{{- $root := .root -}}
{{- $notExempt := dict "key" "kubernetes.io/metadata.name" "operator" "NotIn" "values" (include "tierguard.webhook.exemptNamespaceNames" $root | fromJsonArray) -}}
{{- if eq .handler.resource "namespaces" -}}
{{- toYaml (dict "matchExpressions" (list $notExempt)) -}}
{{- else if or (eq .handler.scope "Namespaced") (eq .handler.scope "*") -}}
{{- $tiered := dict "key" $root.Values.policy.tierLabel "operator" "Exists" -}}
{{- toYaml (dict "matchExpressions" (list $tiered $notExempt)) -}}
{{- end -}}
{{- end -}}

{{/* ---- certs -------------------------------------------------------------------------------------------- */}}

{{- define "tierguard.certs.secretName" -}}
{{- printf "%s-tls" (include "tierguard.chart.fullname" .) -}}
{{- end -}}

{{- define "tierguard.certs.timeLayout" -}}
2006-01-02T15:04:05Z07:00
{{- end -}}

{{/*
The chart-generated webhook certificates, as JSON {"ca.crt", "tls.crt", "tls.key", "caBundle", "notAfter"}.
Kept across `helm upgrade`: the existing Secret is looked up and reused while it holds all three files for the
current DNS names and does not expire within certs.renewBeforeDays. Otherwise a new CA and serving certificate
are generated; caBundle then trusts the new CA and, during the rotation, the old one, so replicas still serving
the old certificate keep being trusted until they reload the new files. Without a cluster (`helm template`)
lookup answers nothing and the certificates are new on each render.
Call it once per render: two calls generate two different CAs.
*/}}
{{- define "tierguard.certs.generated" -}}
{{- $layout := include "tierguard.certs.timeLayout" . -}}
{{- $dnsNames := include "tierguard.webhook.dnsNames" . | fromJsonArray -}}
{{- $dnsAnnotation := join "," $dnsNames -}}
{{- $existing := lookup "v1" "Secret" .Release.Namespace (include "tierguard.certs.secretName" .) -}}
{{- $data := (get $existing "data") | default dict -}}
{{- $annotations := ((get $existing "metadata") | default dict).annotations | default dict -}}
{{- $reuse := false -}}
{{- if and (index $data "ca.crt") (index $data "tls.crt") (index $data "tls.key") (index $annotations "tierguard.io/certificate-not-after") -}}
{{- $notAfter := toDate $layout (index $annotations "tierguard.io/certificate-not-after") | unixEpoch | int64 -}}
{{- $renewAt := sub $notAfter (mul .Values.certs.renewBeforeDays 86400) -}}
{{- if and (lt (now | unixEpoch | int64) $renewAt) (eq (index $annotations "tierguard.io/certificate-dns-names" | default "") $dnsAnnotation) -}}
{{- $reuse = true -}}
{{- end -}}
{{- end -}}
{{- if $reuse -}}
{{- toJson (dict "ca.crt" (index $data "ca.crt" | b64dec) "tls.crt" (index $data "tls.crt" | b64dec) "tls.key" (index $data "tls.key" | b64dec) "caBundle" (index $data "ca.crt" | b64dec) "notAfter" (index $annotations "tierguard.io/certificate-not-after")) -}}
{{- else -}}
{{- $days := int .Values.certs.validityDays -}}
{{- $notAfter := dateInZone $layout (now | dateModify (printf "+%dh" (mul $days 24))) "UTC" -}}
{{- /* ECDSA P-256: small, fast to generate, accepted by the API server and Python's ssl. */ -}}
{{- $ca := genCAWithKey (printf "%s-ca" (include "tierguard.chart.fullname" .)) $days (genPrivateKey "ecdsa") -}}
{{- $cert := genSignedCertWithKey (index $dnsNames 2) nil $dnsNames $days $ca (genPrivateKey "ecdsa") -}}
{{- $bundle := $ca.Cert -}}
{{- $oldCA := index $data "ca.crt" | default "" | b64dec -}}
{{- if and $oldCA (ne $oldCA $ca.Cert) -}}
{{- $bundle = printf "%s\n%s" (trimSuffix "\n" $ca.Cert) $oldCA -}}
{{- end -}}
{{- toJson (dict "ca.crt" $ca.Cert "tls.crt" $cert.Cert "tls.key" $cert.Key "caBundle" $bundle "notAfter" $notAfter) -}}
{{- end -}}
{{- end -}}

{{/* ---- validation: contradictory values fail the render ------------------------------------------------ */}}

{{- define "tierguard.validate.values" -}}
{{- if lt (int .Values.replicaCount) 1 -}}
{{- fail "replicaCount must be at least 1: with webhook.failurePolicy=Fail, 0 replicas refuses every matched write (uninstall the chart instead)" -}}
{{- end -}}
{{- $pdb := .Values.podDisruptionBudget -}}
{{- if and $pdb.enabled (not (kindIs "invalid" $pdb.minAvailable)) (not (kindIs "invalid" $pdb.maxUnavailable)) -}}
{{- fail "podDisruptionBudget: set minAvailable or maxUnavailable, not both (set the other to null)" -}}
{{- end -}}
{{- if and $pdb.enabled (kindIs "invalid" $pdb.minAvailable) (kindIs "invalid" $pdb.maxUnavailable) -}}
{{- fail "podDisruptionBudget.enabled is true but neither minAvailable nor maxUnavailable is set" -}}
{{- end -}}
{{- if ge (int .Values.certs.renewBeforeDays) (int .Values.certs.validityDays) -}}
{{- fail "certs.renewBeforeDays must be less than certs.validityDays (otherwise every upgrade regenerates the certificates)" -}}
{{- end -}}
{{- if .Values.local.enabled -}}
{{- if not .Values.webhook.url -}}
{{- fail "local.enabled needs webhook.url, the https:// base URL where tierguard runs (e.g. https://127.0.0.1:9443)" -}}
{{- end -}}
{{- if not .Values.webhook.caBundle -}}
{{- fail "local.enabled needs webhook.caBundle, the base64 PEM of the CA that signed the certificate at webhook.url" -}}
{{- end -}}
{{- if .Values.certManager.enabled -}}
{{- fail "local.enabled and certManager.enabled contradict: in local mode the certificate at webhook.url is yours, give its CA in webhook.caBundle" -}}
{{- end -}}
{{- else -}}
{{- if .Values.webhook.url -}}
{{- fail "webhook.url is used only with local.enabled=true (in-cluster, the API server calls the chart's Service)" -}}
{{- end -}}
{{- if .Values.webhook.caBundle -}}
{{- fail "webhook.caBundle is used only with local.enabled=true (in-cluster, the chart or cert-manager provides it)" -}}
{{- end -}}
{{- end -}}
{{- if eq (int .Values.metrics.port) 8443 -}}
{{- fail "metrics.port must differ from the webhook port 8443" -}}
{{- end -}}
{{- end -}}

{{/*
Every name tierguard may give a ValidatingAdmissionPolicy or its binding, as a JSON list:
<fullname>-<family>-<action> (tierguard.vap.managed_names; tests/chart/test_render.py keeps them equal).
*/}}
{{- define "tierguard.admissionPolicies.names" -}}
{{- $fullname := include "tierguard.chart.fullname" . -}}
{{- $names := list -}}
{{- range $family := list "namespaces" "workloads" "assignment" "posture" -}}
{{- range $action := list "deny" "warn" "audit" -}}
{{- $names = append $names (printf "%s-%s-%s" $fullname $family $action) -}}
{{- end -}}
{{- end -}}
{{- toJson $names -}}
{{- end -}}

{{/*
Seconds a terminating replica lingers for the API server to close its connections. 95 when the values have no
such key: `helm upgrade --reuse-values` from chart 0.2.0 or earlier keeps that chart's values, which lack it.
*/}}
{{- define "tierguard.connectionLingerSeconds" -}}
{{- if hasKey .Values "connectionLingerSeconds" -}}{{ .Values.connectionLingerSeconds | int }}{{- else -}}95{{- end -}}
{{- end -}}

{{/* ---- fleet (docs/fleet.md) ------------------------------------------------------------------------------ */}}

{{- /* "true" when this cluster is a fleet member publishing to another cluster's hub; empty otherwise. */}}
{{- define "tierguard.fleet.remoteHub" -}}
{{- $fleet := .Values.fleet | default dict -}}
{{- if and $fleet.member (dig "hub" "kubeconfigSecret" "" $fleet) -}}true{{- end -}}
{{- end -}}

{{- /* "true" when this cluster is the fleet's hub: a member without a remote hub, or one serving other members. */}}
{{- define "tierguard.fleet.isHub" -}}
{{- $fleet := .Values.fleet | default dict -}}
{{- if or (and $fleet.member (not (dig "hub" "kubeconfigSecret" "" $fleet))) (dig "hub" "members" list $fleet) -}}true{{- end -}}
{{- end -}}

{{- /* CEL true unless the request names one of the list's objects: "request.name != 'a' && request.name != 'b'". */}}
{{- define "tierguard.webhook.notNamed" -}}
{{- $tests := list -}}
{{- range . }}{{ $tests = append $tests (printf "request.name != '%s'" .) }}{{ end -}}
{{- join " && " $tests -}}
{{- end -}}
