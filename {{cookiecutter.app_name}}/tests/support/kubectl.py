"""A stand-in for kubectl and the cluster, which cannot run here."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import yaml


@dataclasses.dataclass
class RecordingKubectl:
    """Stands in for kubectl and the cluster, which cannot run here: records the arguments and manifests sent, and
    `port-forward` forwards to KUBECTL_SERVICE_ADDRESS (see kubectl_port_forward.py). `kustomize` needs no cluster:
    the real kubectl runs it."""

    bin_dir: Path

    def env(self) -> dict[str, str]:
        """os.environ with this kubectl first on PATH."""
        return {**os.environ, "PATH": f"{self.bin_dir}{os.pathsep}{os.environ['PATH']}"}

    def calls(self) -> list[list[str]]:
        """The arguments of every call, in order; [] if kubectl was never called."""
        calls = self.bin_dir / "calls"
        return [line.split() for line in calls.read_text().splitlines()] if calls.exists() else []

    def manifests(self, apply: int = -1) -> list[dict]:
        """The objects sent to the last `kubectl apply -f -` (or to the apply-th, counting from 0)."""
        sent = sorted(self.bin_dir.glob("applied-*.yaml"), key=lambda path: int(path.stem.removeprefix("applied-")))
        return [doc for doc in yaml.safe_load_all(sent[apply].read_text()) if doc]

    def created(self) -> list[dict]:
        """The objects sent to every `kubectl create -f -`, in order."""
        sent = sorted(self.bin_dir.glob("created-*.yaml"), key=lambda path: int(path.stem.removeprefix("created-")))
        return [doc for path in sent for doc in yaml.safe_load_all(path.read_text()) if doc]

    def deployed(self, deploy: int = -1) -> list[dict]:
        """What the deploy-th `deploy apply` sent (counting from 0; -1, the last), in one list: its first apply (the
        namespace and the Secret), then its second (the rest, as the namespace's ApplySet)."""
        applies = [call for call in self.calls() if call[0] == "apply"]
        second = [index for index, call in enumerate(applies) if "--prune" in call][deploy]
        return self.manifests(second - 1) + self.manifests(second)

    def cluster(self) -> dict[tuple[str, str, str], dict]:
        """The objects a cluster holds after the recorded applies, (kind, namespace, name) -> object, as kubectl's
        ApplySet pruning leaves them: an apply with `--prune --applyset=SET` deletes what an earlier apply to SET
        sent and this one does not; an apply without leaves everything there."""
        live: dict[tuple[str, str, str], dict] = {}
        members: dict[str, set[tuple[str, str, str]]] = {}
        applies = [call for call in self.calls() if call[0] == "apply"]
        for index, call in enumerate(applies):
            sent = {(o["kind"], o["metadata"].get("namespace", ""), o["metadata"]["name"]): o
                    for o in self.manifests(index)}  # fmt: skip
            live.update(sent)
            applyset = next((flag for flag in call if flag.startswith("--applyset=")), None)
            if applyset and "--prune" in call:
                key = f"{applyset}@{call[call.index('--namespace') + 1]}"
                for gone in members.get(key, set()) - set(sent):
                    live.pop(gone, None)
                members[key] = set(sent)
        return live
