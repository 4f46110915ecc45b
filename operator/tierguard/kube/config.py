"""Where tierguard's credentials for the API server come from: the one loader, for every command.

Precedence, the same for ``run``, ``audit``, ``parity`` and ``check --namespace-tiers-from-cluster``:

1. the kubeconfig file given explicitly (``--kubeconfig``, where a command offers it);
2. ``$KUBECONFIG`` when set: as for kubectl, a deliberate choice even inside a pod (a CI job's pod auditing
   another cluster);
3. the pod's service account (in-cluster config), when running in a pod;
4. ``~/.kube/config``, with its current context.

The configuration is made fresh for each client: the kubernetes client's process-wide default is never set.
"""

from __future__ import annotations

import os
from typing import Any


class NoCredentials(Exception):
    """No configuration could be loaded; ``cause`` says why (the loader's own exception)."""

    def __init__(self, cause: Exception) -> None:
        super().__init__(str(cause))
        self.cause = cause


def api_client(kubeconfig: str | None = None, *, pool_size: int | None = None,
               retries: bool | None = None, context: str | None = None) -> Any:
    """A kubernetes ``ApiClient`` for the precedence above; raises NoCredentials. ``pool_size``: connections kept
    per host (one per open watch, plus the rest); ``retries=False``: a failed request fails at once; ``context``:
    this context of the kubeconfig rather than its current one (never the in-cluster config then)."""
    from kubernetes import client, config  # noqa: PLC0415 - only commands that talk to a cluster load the client

    configuration = client.Configuration()
    configuration.host = ""  # set by a successful load: a failure before it names no server
    try:
        # The value, not the client's own default: that one is read once, when the client is imported.
        explicit = kubeconfig or os.environ.get("KUBECONFIG")  # a list of files, as for kubectl
        if explicit or context:
            config.load_kube_config(config_file=explicit or None, context=context,  # type: ignore[no-untyped-call]
                                    client_configuration=configuration)
        else:
            try:
                config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
            except config.ConfigException:  # not in a pod (or no service account token mounted)
                config.load_kube_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
    except Exception as error:
        raise NoCredentials(error) from None
    if pool_size is not None:
        configuration.connection_pool_maxsize = pool_size
    if retries is not None:
        configuration.retries = retries
    return client.ApiClient(configuration)


def server_of(api_client: Any) -> str:
    """The API server's URL, for messages."""
    return str(getattr(getattr(api_client, "configuration", None), "host", None) or "the API server")
