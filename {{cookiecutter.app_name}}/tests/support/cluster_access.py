"""Whether a cluster lets an identity make an API request: RBAC, then the ValidatingAdmissionPolicies, as the API
server decides it.

No cluster runs here. This reads the access manifests an admin applies (roles, their bindings, admission policies,
evaluating the policies' CEL with cel-python) and the API requests each recorded kubectl command sends, so that a
test judges the exact manifests against the exact commands a workflow runs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

import celpy

# Where each kind the app deploys lives in the API: group, resource and whether it belongs to a namespace
KINDS = {
    "Namespace": ("", "namespaces", False),
    "ConfigMap": ("", "configmaps", True),
    "Secret": ("", "secrets", True),
    "Service": ("", "services", True),
    "Pod": ("", "pods", True),
    "PersistentVolumeClaim": ("", "persistentvolumeclaims", True),
    "Deployment": ("apps", "deployments", True),
    "StatefulSet": ("apps", "statefulsets", True),
    "NetworkPolicy": ("networking.k8s.io", "networkpolicies", True),
}
OPERATIONS = {"create": "CREATE", "update": "UPDATE", "patch": "UPDATE", "delete": "DELETE"}
CONNECTIONS = ("portforward", "exec", "attach", "proxy")  # `create` to RBAC, CONNECT to admission


@dataclasses.dataclass(frozen=True)
class ApiRequest:
    verb: str  # get, list, watch, create, update, patch, delete
    kind: str
    namespace: str  # "" for a cluster-wide object
    name: str = ""
    subresource: str = ""
    object: dict[str, Any] | None = dataclasses.field(default=None, compare=False)

    @property
    def group(self) -> str:
        return KINDS[self.kind][0]

    @property
    def resource(self) -> str:
        resource = KINDS[self.kind][1]
        return f"{resource}/{self.subresource}" if self.subresource else resource

    def describe(self) -> str:
        where = f" in {self.namespace}" if self.namespace else ""
        return f"{self.verb} {self.resource} {self.name}{where}".replace("  ", " ")

    def elsewhere(self, namespace: str) -> ApiRequest:
        """The same request aimed at another namespace (a Namespace request: at that namespace itself)."""
        if self.kind != "Namespace":
            return dataclasses.replace(self, namespace=namespace)
        moved = None if self.object is None else {**self.object, "metadata": {**self.object["metadata"],
                                                                               "name": namespace}}  # fmt: skip
        return dataclasses.replace(self, name=namespace, object=moved)


def requests_of(arguments: list[str], manifest: list[dict[str, Any]]) -> list[ApiRequest]:
    """The API requests `kubectl <arguments>` sends; `manifest` is what an `apply -f -` reads from its input."""
    command, flags = arguments[0], options(arguments[1:])
    if command == "kustomize":  # builds the manifests on this machine: no request
        return []
    if command == "apply":
        writes = [request for document in manifest for request in applied(document, "--server-side" in flags)]
        applyset = next((a.removeprefix("--applyset=") for a in arguments if a.startswith("--applyset=")), None)
        return writes if applyset is None else [*writes, *pruned(applyset, flags["--namespace"], manifest)]
    if command == "rollout" and arguments[1] == "status":
        kind, name = arguments[2].split("/")
        return [ApiRequest("get", kind.title(), flags["--namespace"], name),
                ApiRequest("watch", kind.title(), flags["--namespace"])]  # fmt: skip
    if command == "delete" and arguments[1] == "namespace":
        return [ApiRequest("get", "Namespace", "", arguments[2]), ApiRequest("delete", "Namespace", "", arguments[2])]
    if command == "port-forward":
        service = arguments[3].removeprefix("service/")
        return [ApiRequest("get", "Service", flags["--namespace"], service),
                ApiRequest("list", "Pod", flags["--namespace"]),
                ApiRequest("create", "Pod", flags["--namespace"], "", "portforward")]  # fmt: skip
    raise ValueError(f"which API requests `kubectl {' '.join(arguments)}` sends is not known here: add it")


def options(arguments: list[str]) -> dict[str, str]:
    """`--flag value` and `--flag` (value '') pairs of a command line."""
    found = {}
    for index, argument in enumerate(arguments):
        if argument.startswith("--"):
            following = arguments[index + 1] if index + 1 < len(arguments) else "--"
            found[argument] = "" if following.startswith("-") or "=" in argument else following
    return found


def pruned(applyset: str, namespace: str, manifest: list[dict[str, Any]]) -> list[ApiRequest]:
    """What ApplySet pruning adds to an apply: kubectl reads and updates the set's parent object (a ConfigMap here),
    lists each kind of the set by the set's label, and deletes the members this apply did not send."""
    resource, name = applyset.split("/")
    assert resource == "configmaps", f"the parent of {applyset} is not modelled here: add it"
    parent = ("ConfigMap", namespace, name)
    kinds = sorted({document["kind"] for document in manifest})
    return [ApiRequest("get", *parent), ApiRequest("create", *parent), ApiRequest("patch", *parent),
            *(ApiRequest("list", kind, namespace) for kind in kinds),
            *(ApiRequest("delete", kind, namespace) for kind in kinds)]  # fmt: skip


def applied(document: dict[str, Any], server_side: bool) -> list[ApiRequest]:
    """Applying one object: a server-side apply is a patch that creates the object if it is missing; a client-side
    apply reads the object first, to merge with it."""
    namespace = document["metadata"].get("namespace", "") if KINDS[document["kind"]][2] else ""
    at = (document["kind"], namespace, document["metadata"]["name"])
    writes = [ApiRequest("create", *at, object=document), ApiRequest("patch", *at, object=document)]
    return writes if server_side else [ApiRequest("get", *at), *writes]


class ClusterAccess:
    """The access manifests of a cluster: who may do what (RBAC) and what is refused whoever may (admission)."""

    def __init__(self, documents: Iterable[dict[str, Any]]):
        documents = [document for document in documents if document]
        self.roles = {(d["kind"], d["metadata"].get("namespace", ""), d["metadata"]["name"]): d["rules"]
                      for d in documents if d["kind"] in ("Role", "ClusterRole")}  # fmt: skip
        self.bindings = [d for d in documents if d["kind"] in ("RoleBinding", "ClusterRoleBinding")]
        bound = {
            d["spec"]["policyName"]
            for d in documents
            if d["kind"] == "ValidatingAdmissionPolicyBinding" and "Deny" in d["spec"]["validationActions"]
        }
        self.policies = [d for d in documents if d["kind"] == "ValidatingAdmissionPolicy"
                         and d["metadata"]["name"] in bound]  # fmt: skip
        self.cel = celpy.Environment()

    def allows(self, user: str, request: ApiRequest) -> bool:
        return self.authorized(user, request) and not self.refusals(user, request)

    def authorized(self, user: str, request: ApiRequest) -> bool:
        """Whether a rule of a role bound to `user` grants the request. A RoleBinding grants only in its namespace,
        and never a cluster-wide object."""
        for binding in self.bindings:
            if not any(s["kind"] == "User" and s["name"] == user for s in binding.get("subjects", [])):
                continue
            where = binding["metadata"].get("namespace", "")
            if binding["kind"] == "RoleBinding" and (not request.namespace or where != request.namespace):
                continue
            role = binding["roleRef"]
            rules = self.roles[(role["kind"], where if role["kind"] == "Role" else "", role["name"])]
            if any(grants(rule, request) for rule in rules):
                return True
        return False

    def refusals(self, user: str, request: ApiRequest) -> list[str]:
        """The messages of the admission policies that refuse the request; [] if none does (reads are never
        admitted: only changes are)."""
        if request.verb not in OPERATIONS:
            return []
        group, version = request.object["apiVersion"].rpartition("/")[::2] if request.object else (request.group, "v1")
        review = {
            "request": {
                "kind": {"group": group, "version": version, "kind": request.kind},
                "resource": {"group": request.group, "version": version, "resource": KINDS[request.kind][1]},
                "subResource": request.subresource,
                "name": request.name,
                "namespace": request.namespace,
                "operation": "CONNECT" if request.subresource in CONNECTIONS else OPERATIONS[request.verb],
                "userInfo": {"username": user},
            },
            "object": request.object,
            "oldObject": None,
        }
        refused = []
        for policy in self.policies:
            spec = policy["spec"]
            if not any(matches(rule, request, review) for rule in spec["matchConstraints"]["resourceRules"]):
                continue
            if not all(self.evaluate(c["expression"], review) for c in spec.get("matchConditions", [])):
                continue
            review = {**review, "variables": {}}
            for variable in spec.get("variables", []):
                review["variables"][variable["name"]] = self.evaluate(variable["expression"], review)
            for validation in spec["validations"]:
                if not self.evaluate(validation["expression"], review):
                    message = validation.get("message")
                    refused.append(message or str(self.evaluate(validation["messageExpression"], review)))
        return refused

    def evaluate(self, expression: str, review: dict[str, Any]) -> Any:
        program = self.cel.program(self.cel.compile(expression))
        return program.evaluate({name: celpy.json_to_cel(value) for name, value in review.items()})


def grants(rule: dict[str, Any], request: ApiRequest) -> bool:
    def among(value: str, allowed: list[str]) -> bool:
        return "*" in allowed or value in allowed

    named = not rule.get("resourceNames") or request.name in rule["resourceNames"]
    return (among(request.verb, rule["verbs"]) and among(request.group, rule["apiGroups"])
            and among(request.resource, rule["resources"]) and named)  # fmt: skip


def matches(rule: dict[str, Any], request: ApiRequest, review: dict[str, Any]) -> bool:
    """Whether an admission rule covers the request: `*` is every resource, `*/*` every resource and subresource."""
    operation, resources = review["request"]["operation"], rule["resources"]
    resource = ("*/*" in resources or (request.resource in resources) or ("*" in resources and not request.subresource)
                or f"{KINDS[request.kind][1]}/*" in resources)  # fmt: skip
    return (
        ("*" in rule["operations"] or operation in rule["operations"])
        and resource
        and ("*" in rule["apiGroups"] or request.group in rule["apiGroups"])
    )
