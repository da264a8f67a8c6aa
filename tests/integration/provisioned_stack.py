"""The project's own stack (template.yaml) provisioned into DynamoDB Local and moto for one test module.

Tables, queues and secrets come only from template.yaml; each test module passes its own
stack name so the physical names never collide on the shared local servers.
"""

from __future__ import annotations

import importlib.util
import uuid
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from contactsync_ops.local_stack.provisioning import ProvisionedResources, provision_stack
from contactsync_ops.local_stack.template_model import LocalTemplate, load_local_template

if TYPE_CHECKING:
    from types import ModuleType

    from contactsync_ops.local_stack.endpoints import LocalEndpoints

PROJECT_ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = PROJECT_ROOT / "template.yaml"


@dataclass(frozen=True)
class ProvisionedStack:
    """One provisioned copy of the template: where each of its resources lives."""

    template: LocalTemplate
    resources: ProvisionedResources
    endpoints: LocalEndpoints

    @property
    def contacts_table(self) -> str:
        return self.resources.tables["ContactsTable"].name

    def queue_url(self, logical_id: str) -> str:
        return self.resources.queues[logical_id].url

    def secret_id(self, logical_id: str) -> str:
        return self.resources.secrets[logical_id].name

    @cached_property
    def dynamodb(self) -> Any:
        return self.endpoints.dynamodb_client()

    @cached_property
    def sqs(self) -> Any:
        return self.endpoints.sqs_client()

    @cached_property
    def secrets_manager(self) -> Any:
        return self.endpoints.secrets_manager_client()

    def function_environment(self, logical_id: str) -> dict[str, str]:
        """The variables template.yaml gives the function, resolved to this stack's resources."""
        return dict(self.template.functions[logical_id].environment)


def provision_for_module(endpoints: LocalEndpoints, prefix: str) -> ProvisionedStack:
    """Provision template.yaml under a stack name unique to the calling test module (and run)."""
    stack_name = f"it-{prefix}-{uuid.uuid4().hex[:6]}"
    template = load_local_template(TEMPLATE_PATH, stack_name=stack_name, sqs_endpoint_url=endpoints.moto)
    resources = provision_stack(template, endpoints, max_visibility_timeout=2)
    return ProvisionedStack(template=template, resources=resources, endpoints=endpoints)


def drain_queue(sqs: Any, queue_url: str, expected: int, max_polls: int = 20) -> list[dict[str, Any]]:
    """Receive (and delete) messages until ``expected`` arrived or the queue stays empty."""
    received: list[dict[str, Any]] = []
    for _ in range(max_polls):
        if len(received) >= expected:
            break
        batch = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get(
            "Messages", []
        )
        if not batch:
            continue
        received.extend(batch)
        sqs.delete_message_batch(
            QueueUrl=queue_url,
            Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)],
        )
    return received


@dataclass(frozen=True)
class FakeLambdaContext:
    """What Powertools reads of a Lambda context."""

    function_name: str = "contactsync-it"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:ca-central-1:000000000000:function:contactsync-it"
    aws_request_id: str = "00000000-0000-4000-8000-000000000000"
    function_version: str = "$LATEST"
    log_group_name: str = "/aws/lambda/contactsync-it"
    log_stream_name: str = "it"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


def load_handler_module(function_dir: str) -> ModuleType:
    """Import ``functions/<function_dir>/app.py`` under a fresh, unique module name."""
    path = PROJECT_ROOT / "functions" / function_dir / "app.py"
    name = f"contactsync_it_{function_dir}_app_{uuid.uuid4().hex[:8]}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
