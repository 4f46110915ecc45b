"""The TierPolicy document: its dataclasses, SPEC's defaults and strict loading.

Loading is strict on purpose: an unknown field or a wrong type is an error naming the field path
(``spec.sidecars.required[1].image``), because a silently ignored typo would switch enforcement off.
No I/O beyond reading the one file a caller names.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar

import yaml

from tierguard.errors import PolicyError  # raised here; errors.py maps every error type
from tierguard.yamlload import TAG_MISFIT_PROBLEM, TAG_MISFITS

API_VERSION = "tierguard.io/v1alpha1"
KIND = "TierPolicy"


class EnforcementMode(StrEnum):
    """How a tier is enforced; the engine gives each mode's violations their action (enforce: deny)."""

    ENFORCE = "enforce"
    WARN = "warn"
    AUDIT = "audit"


StrMap = Mapping[str, str]


@dataclass(frozen=True)
class DisabledBy:
    """Pod labels/annotations that switch injection of a sidecar off."""

    pod_labels: StrMap = field(default_factory=dict)
    pod_annotations: StrMap = field(default_factory=dict)


@dataclass(frozen=True)
class Injection:
    """How a mutating webhook will add a sidecar later; any one match means "will be injected"."""

    namespace_labels: StrMap = field(default_factory=dict)
    namespace_annotations: StrMap = field(default_factory=dict)
    pod_labels: StrMap = field(default_factory=dict)
    pod_annotations: StrMap = field(default_factory=dict)
    disabled_by: DisabledBy = field(default_factory=DisabledBy)


@dataclass(frozen=True)
class ProvidedBy:
    """The service runs without a container in the pod (Istio ambient: the node's ztunnel); any one matching
    namespace or pod label provides it."""

    namespace_labels: StrMap = field(default_factory=dict)
    pod_labels: StrMap = field(default_factory=dict)
    running_pod_annotations: StrMap = field(default_factory=dict)
    """What a running pod carries once the service is in force (``ambient.istio.io/redirection: enabled``);
    only the audit looks, because nothing carries it at admission."""


@dataclass(frozen=True)
class RequiredSidecar:
    """A container that must run beside every workload of every tier."""

    name: str
    image: str = ""
    """Glob on the image; empty matches any image."""
    injection: Injection | None = None
    provided_by: ProvidedBy | None = None


@dataclass(frozen=True)
class NamespacePosture:
    """What every tiered namespace keeps in force (``namespace-security-missing``)."""

    required_labels: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Label -> the values that satisfy it; an empty tuple: any value, as long as the label is there."""
    default_deny_ingress: bool = False
    """Every tiered namespace keeps a NetworkPolicy selecting all its pods that admits no ingress."""

    @property
    def configured(self) -> bool:
        return bool(self.required_labels) or self.default_deny_ingress


@dataclass(frozen=True)
class Enforcement:
    default: EnforcementMode = EnforcementMode.ENFORCE
    per_tier: Mapping[str, EnforcementMode] = field(default_factory=dict)

    def mode_for(self, tier: str | None) -> EnforcementMode:
        if tier is not None and tier in self.per_tier:
            return self.per_tier[tier]
        return self.default


@dataclass(frozen=True)
class Fingerprints:
    enabled: bool = True
    min_length: int = 16
    """Values shorter than this (in bytes) are never compared: ports, usernames, "true"."""
    ignore_keys: tuple[str, ...] = ("ca.crt", "tls.crt")
    """Data keys holding public material, never compared."""


@dataclass(frozen=True)
class Shareable:
    labels: StrMap = field(default_factory=lambda: {"tierguard.io/shareable": "true"})


@dataclass(frozen=True)
class SecretsPolicy:
    shareable: Shareable = field(default_factory=Shareable)
    fingerprints: Fingerprints = field(default_factory=Fingerprints)
    path_patterns: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Per tier, globs of external secret-store paths that belong to it."""


@dataclass(frozen=True)
class BreakGlass:
    annotation: str = "tierguard.io/break-glass"
    groups: tuple[str, ...] = ()
    """Groups whose members may break glass; empty disables break-glass."""


DEFAULT_EXEMPT_NAMESPACES = ("kube-system", "kube-public", "kube-node-lease")


@dataclass(frozen=True)
class Exemptions:
    namespaces: tuple[str, ...] = DEFAULT_EXEMPT_NAMESPACES
    break_glass: BreakGlass = field(default_factory=BreakGlass)


@dataclass(frozen=True)
class SubjectNames:
    """Globs on the names of users and groups (people, SSO groups)."""

    groups: tuple[str, ...] = ()
    users: tuple[str, ...] = ()


@dataclass(frozen=True)
class Subjects:
    """Which people belong to which tier (``engine/subjects.py`` reads it)."""

    per_tier: Mapping[str, SubjectNames] = field(default_factory=dict)
    platform: SubjectNames = field(default_factory=SubjectNames)
    """Subjects that act in every tier (the platform team)."""

    @property
    def configured(self) -> bool:
        """Whether people have tiers at all: ``namespace-tier-assignment`` is judged only then."""
        return any(names.groups or names.users for names in self.per_tier.values())


@dataclass(frozen=True)
class TierPolicy:
    name: str = "default"
    tier_label: str = "tierguard.io/tier"
    tiers: tuple[str, ...] = ("dev", "qa", "stage", "prod")
    enforcement: Enforcement = field(default_factory=Enforcement)
    secrets: SecretsPolicy = field(default_factory=SecretsPolicy)
    required_sidecars: tuple[RequiredSidecar, ...] = ()
    exemptions: Exemptions = field(default_factory=Exemptions)
    subjects: Subjects = field(default_factory=Subjects)
    namespaces: NamespacePosture = field(default_factory=NamespacePosture)


DEFAULT_POLICY = TierPolicy()


# --- strict loading -------------------------------------------------------------------------------------

T = TypeVar("T")


def _type_name(value: object) -> str:
    names = {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean", int: "an integer",
             float: "a number", type(None): "null"}
    return names.get(type(value), type(value).__name__)


def _mapping(value: object, path: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise PolicyError(path, f"expected a mapping, got {_type_name(value)}")
    return value


def _fields(value: object, path: str, allowed: tuple[str, ...]) -> Mapping[str, Any]:
    mapping = _mapping(value, path)
    for key in mapping:
        if key not in allowed:
            raise PolicyError(_join(path, str(key)), f"unknown field (expected one of: {', '.join(allowed)})")
    return mapping


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _str(value: object, path: str, *, allow_empty: bool = True) -> str:
    if not isinstance(value, str):
        raise PolicyError(path, f"expected a string, got {_type_name(value)}")
    if not allow_empty and not value:
        raise PolicyError(path, "must not be empty")
    return value


def _bool(value: object, path: str) -> bool:
    if not isinstance(value, bool):
        raise PolicyError(path, f"expected a boolean, got {_type_name(value)}")
    return value


def _int(value: object, path: str, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise PolicyError(path, f"expected an integer, got {_type_name(value)}")
    if value < minimum:
        raise PolicyError(path, f"must be at least {minimum}")
    return value


def _list(value: object, path: str, item: Callable[[object, str], T]) -> tuple[T, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise PolicyError(path, f"expected a list, got {_type_name(value)}")
    return tuple(item(entry, f"{path}[{index}]") for index, entry in enumerate(value))


def _str_map(value: object, path: str) -> dict[str, str]:
    mapping = _mapping(value, path)
    result: dict[str, str] = {}
    for key, entry in mapping.items():
        # Label values such as "true" or 1 are easy to write unquoted; YAML would make them bool/int and the
        # policy would never match, so refuse them instead of guessing.
        result[_str(key, path)] = _str(entry, _join(path, str(key)))
    return result


def _unique(values: tuple[str, ...], path: str, what: str) -> tuple[str, ...]:
    seen: set[str] = set()
    for index, value in enumerate(values):
        if value in seen:
            raise PolicyError(f"{path}[{index}]", f"{what} {value!r} is listed twice")
        seen.add(value)
    return values


_GLOB_BRACKET = re.compile(r"\[[^\]]*\]")


def _glob(value: object, path: str) -> str:
    pattern = _str(value, path, allow_empty=False)
    # fnmatch silently treats an unclosed "[" as a literal, so a typo would never match: refuse it.
    if "[" in _GLOB_BRACKET.sub("", pattern) or "]" in _GLOB_BRACKET.sub("", pattern):
        raise PolicyError(path, f"invalid glob {pattern!r}: unbalanced '[' or ']'")
    if re.search(r"\[\]", pattern) or re.search(r"\[!\]", pattern):
        raise PolicyError(path, f"invalid glob {pattern!r}: empty character class")
    return pattern


def _mode(value: object, path: str) -> EnforcementMode:
    text = _str(value, path)
    try:
        return EnforcementMode(text)
    except ValueError:
        choices = ", ".join(mode.value for mode in EnforcementMode)
        raise PolicyError(path, f"unknown mode {text!r} (expected one of: {choices})") from None


def _tier_name(value: object, path: str) -> str:
    name = _str(value, path, allow_empty=False)
    if not re.fullmatch(r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?", name):
        raise PolicyError(path, f"{name!r} is not a valid label value")
    return name


def _known_tier(tier: str, path: str, tiers: tuple[str, ...]) -> str:
    if tier not in tiers:
        raise PolicyError(path, f"unknown tier {tier!r} (tiers are: {', '.join(tiers)})")
    return tier


def _per_tier(value: object, path: str, tiers: tuple[str, ...], item: Callable[[object, str], T]) -> dict[str, T]:
    """A mapping keyed by tier (``perTier``, ``pathPatterns``): each key a known tier, each value read by ``item``."""
    return {_known_tier(tier, _join(path, tier), tiers): item(entry, _join(path, tier))
            for tier, entry in _mapping(value, path).items()}


def _disabled_by(value: object, path: str) -> DisabledBy:
    spec = _fields(value, path, ("podLabels", "podAnnotations"))
    return DisabledBy(
        pod_labels=_str_map(spec.get("podLabels"), _join(path, "podLabels")),
        pod_annotations=_str_map(spec.get("podAnnotations"), _join(path, "podAnnotations")),
    )


def _injection(value: object, path: str) -> Injection:
    spec = _fields(
        value,
        path,
        ("namespaceLabels", "namespaceAnnotations", "podLabels", "podAnnotations", "disabledBy"),
    )
    return Injection(
        namespace_labels=_str_map(spec.get("namespaceLabels"), _join(path, "namespaceLabels")),
        namespace_annotations=_str_map(spec.get("namespaceAnnotations"), _join(path, "namespaceAnnotations")),
        pod_labels=_str_map(spec.get("podLabels"), _join(path, "podLabels")),
        pod_annotations=_str_map(spec.get("podAnnotations"), _join(path, "podAnnotations")),
        disabled_by=_disabled_by(spec.get("disabledBy"), _join(path, "disabledBy")),
    )


def _provided_by(value: object, path: str) -> ProvidedBy:
    spec = _fields(value, path, ("namespaceLabels", "podLabels", "runningPodAnnotations"))
    return ProvidedBy(
        namespace_labels=_str_map(spec.get("namespaceLabels"), _join(path, "namespaceLabels")),
        pod_labels=_str_map(spec.get("podLabels"), _join(path, "podLabels")),
        running_pod_annotations=_str_map(spec.get("runningPodAnnotations"), _join(path, "runningPodAnnotations")),
    )


def _sidecar(value: object, path: str) -> RequiredSidecar:
    spec = _fields(value, path, ("name", "image", "injection", "providedBy"))
    if "name" not in spec:
        raise PolicyError(_join(path, "name"), "required")
    image = spec.get("image", "")
    return RequiredSidecar(
        name=_str(spec["name"], _join(path, "name"), allow_empty=False),
        image=_glob(image, _join(path, "image")) if image != "" else _str(image, _join(path, "image")),
        injection=_injection(spec["injection"], _join(path, "injection")) if "injection" in spec else None,
        provided_by=_provided_by(spec["providedBy"], _join(path, "providedBy")) if "providedBy" in spec else None,
    )


def _enforcement(value: object, path: str, tiers: tuple[str, ...]) -> Enforcement:
    spec = _fields(value, path, ("default", "perTier"))
    per_tier = _per_tier(spec.get("perTier"), _join(path, "perTier"), tiers, _mode)
    default = spec.get("default", EnforcementMode.ENFORCE.value)
    return Enforcement(default=_mode(default, _join(path, "default")), per_tier=per_tier)


def _secrets(value: object, path: str, tiers: tuple[str, ...]) -> SecretsPolicy:
    spec = _fields(value, path, ("shareable", "fingerprints", "pathPatterns"))
    shareable_path = _join(path, "shareable")
    shareable_spec = _fields(spec.get("shareable"), shareable_path, ("labels",))
    shareable = (
        Shareable(labels=_str_map(shareable_spec["labels"], _join(shareable_path, "labels")))
        if "labels" in shareable_spec
        else Shareable()
    )
    fp_path = _join(path, "fingerprints")
    fp_spec = _fields(spec.get("fingerprints"), fp_path, ("enabled", "minLength", "ignoreKeys"))
    defaults = Fingerprints()
    fingerprints = Fingerprints(
        enabled=_bool(fp_spec.get("enabled", defaults.enabled), _join(fp_path, "enabled")),
        min_length=_int(fp_spec.get("minLength", defaults.min_length), _join(fp_path, "minLength"), minimum=1),
        ignore_keys=(
            _list(fp_spec["ignoreKeys"], _join(fp_path, "ignoreKeys"), _str)
            if "ignoreKeys" in fp_spec
            else defaults.ignore_keys
        ),
    )
    path_patterns = _per_tier(spec.get("pathPatterns"), _join(path, "pathPatterns"), tiers,
                              lambda globs, where: _list(globs, where, _glob))
    return SecretsPolicy(shareable=shareable, fingerprints=fingerprints, path_patterns=path_patterns)


def _exemptions(value: object, path: str) -> Exemptions:
    spec = _fields(value, path, ("namespaces", "breakGlass"))
    namespaces = (
        _list(spec["namespaces"], _join(path, "namespaces"), _glob)
        if "namespaces" in spec
        else DEFAULT_EXEMPT_NAMESPACES
    )
    bg_path = _join(path, "breakGlass")
    bg_spec = _fields(spec.get("breakGlass"), bg_path, ("annotation", "groups"))
    break_glass = BreakGlass(
        annotation=_str(bg_spec.get("annotation", BreakGlass.annotation), _join(bg_path, "annotation"),
                        allow_empty=False),
        groups=_list(bg_spec.get("groups"), _join(bg_path, "groups"), _str),
    )
    return Exemptions(namespaces=namespaces, break_glass=break_glass)


def _subject_names(value: object, path: str) -> SubjectNames:
    spec = _fields(value, path, ("groups", "users"))
    return SubjectNames(
        groups=_unique(_list(spec.get("groups"), _join(path, "groups"), _glob), _join(path, "groups"), "group"),
        users=_unique(_list(spec.get("users"), _join(path, "users"), _glob), _join(path, "users"), "user"),
    )


def _subjects(value: object, path: str, tiers: tuple[str, ...]) -> Subjects:
    spec = _fields(value, path, ("perTier", "platform"))
    per_tier = _per_tier(spec.get("perTier"), _join(path, "perTier"), tiers, _subject_names)
    return Subjects(per_tier=per_tier, platform=_subject_names(spec.get("platform"), _join(path, "platform")))


def _namespaces(value: object, path: str) -> NamespacePosture:
    spec = _fields(value, path, ("requiredLabels", "defaultDenyIngress"))
    labels_path = _join(path, "requiredLabels")
    required = {
        _str(label, labels_path, allow_empty=False):
            _unique(_list(values, _join(labels_path, label), _str), _join(labels_path, label), "value")
        for label, values in _mapping(spec.get("requiredLabels"), labels_path).items()
    }
    return NamespacePosture(
        required_labels=required,
        default_deny_ingress=_bool(spec.get("defaultDenyIngress", NamespacePosture.default_deny_ingress),
                                   _join(path, "defaultDenyIngress")),
    )


def load_policy(document: object) -> TierPolicy:
    """Build a TierPolicy from a parsed document, applying SPEC's defaults; raise PolicyError on any flaw."""
    root = _fields(document, "", ("apiVersion", "kind", "metadata", "spec"))
    if "apiVersion" in root and root["apiVersion"] != API_VERSION:
        raise PolicyError("apiVersion", f"expected {API_VERSION!r}, got {root['apiVersion']!r}")
    if "kind" in root and root["kind"] != KIND:
        raise PolicyError("kind", f"expected {KIND!r}, got {root['kind']!r}")
    metadata = _mapping(root.get("metadata"), "metadata")
    name = _str(metadata.get("name", "default"), "metadata.name", allow_empty=False)
    spec = _fields(
        root.get("spec"),
        "spec",
        ("tierLabel", "tiers", "enforcement", "secrets", "sidecars", "exemptions", "subjects", "namespaces"),
    )
    tiers = (
        _unique(_list(spec["tiers"], "spec.tiers", _tier_name), "spec.tiers", "tier")
        if "tiers" in spec
        else DEFAULT_POLICY.tiers
    )
    if not tiers:
        raise PolicyError("spec.tiers", "must list at least one tier")
    sidecars_spec = _fields(spec.get("sidecars"), "spec.sidecars", ("required",))
    required = _list(sidecars_spec.get("required"), "spec.sidecars.required", _sidecar)
    _unique(tuple(s.name for s in required), "spec.sidecars.required", "sidecar")
    return TierPolicy(
        name=name,
        tier_label=_str(spec.get("tierLabel", DEFAULT_POLICY.tier_label), "spec.tierLabel", allow_empty=False),
        tiers=tiers,
        enforcement=_enforcement(spec.get("enforcement"), "spec.enforcement", tiers),
        secrets=_secrets(spec.get("secrets"), "spec.secrets", tiers),
        required_sidecars=required,
        exemptions=_exemptions(spec.get("exemptions"), "spec.exemptions"),
        subjects=_subjects(spec.get("subjects"), "spec.subjects", tiers),
        namespaces=_namespaces(spec.get("namespaces"), "spec.namespaces"),
    )


def stored_document(obj: Mapping[str, Any]) -> dict[str, Any]:
    """A TierPolicy object as the API server stores it (a listed, watched or admitted object) turned into
    the document ``load_policy`` judges: ``status`` dropped, ``metadata`` reduced to the name (the server adds
    uid, resourceVersion, managedFields, ... which users never write), every mapping copied to a plain dict
    (the caller's object may be shared). A ``metadata`` that is not a mapping is kept, so loading names it.

    The one normalisation of stored policies: the webhook's index and reload, the audit and the rule that
    refuses an invalid TierPolicy at admission all use it.
    """
    document = {str(key): plain_copy(value) for key, value in obj.items() if key != "status"}
    metadata = obj.get("metadata")
    if isinstance(metadata, Mapping):
        document["metadata"] = {"name": plain_copy(metadata.get("name", "default"))}
    return document


def load_stored_policy(obj: Mapping[str, Any]) -> TierPolicy:
    """``load_policy`` of a stored TierPolicy object (see ``stored_document``); raises PolicyError."""
    return load_policy(stored_document(obj))


def plain_copy(value: object) -> Any:
    """A deep copy of a JSON-like value with every mapping a dict of string keys: it shares nothing with (and
    keeps nothing alive of) the body it came from. The live indexes copy what they keep with it too."""
    if isinstance(value, Mapping):
        return {str(k): plain_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain_copy(v) for v in value]
    return value


def load_policy_text(text: str) -> TierPolicy:
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        raise PolicyError("", f"not valid YAML: {where}{getattr(error, 'problem', None) or error}") from None
    except TAG_MISFITS:
        raise PolicyError("", f"not valid YAML: {TAG_MISFIT_PROBLEM}") from None
    if document is None:
        raise PolicyError("", "the policy document is empty")
    return load_policy(document)


def load_policy_file(path: str | Path) -> TierPolicy:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise PolicyError("", f"cannot read {path}: {error.__class__.__name__}: {error}") from None
    return load_policy_text(text)
