"""The one reading of template.yaml for the local stack.

Tables, queues, secrets, functions and their events are taken from the SAM template and
nowhere else, so the local stack cannot drift from what is deployed. Intrinsic functions
are resolved the way CloudFormation would for a stack named e.g. ``contactsync-local``,
with local physical names (``<stack>-<LogicalId>``) and local endpoints.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import yaml

DEFAULT_STACK_NAME = "contactsync-local"
DEFAULT_REGION = "ca-central-1"
DEFAULT_ACCOUNT_ID = "000000000000"

#: Resource types that have no local counterpart and do not change how functions behave.
LOCALLY_IGNORED_TYPES: dict[str, str] = {
    "AWS::Serverless::LayerVersion": "its ContentUri is put on the functions' sys.path",
    "AWS::Lambda::LayerVersion": "layers are not packaged locally",
    "AWS::Serverless::Api": "routes come from the functions' Api events",
    "AWS::CloudWatch::Alarm": "no metrics locally",
    "AWS::CloudWatch::Dashboard": "no metrics locally",
    "AWS::Logs::LogGroup": "function logs go to the runner's console",
    "AWS::Logs::MetricFilter": "no metrics locally",
    "AWS::IAM::Role": "no IAM locally",
    "AWS::IAM::Policy": "no IAM locally",
    "AWS::IAM::ManagedPolicy": "no IAM locally",
    "AWS::Lambda::Permission": "no IAM locally",
    "AWS::SQS::QueuePolicy": "no IAM locally",
    "AWS::KMS::Key": "queues are not encrypted locally (their KmsMasterKeyId is dropped)",
    "AWS::KMS::Alias": "queues are not encrypted locally",
}

SUPPORTED_TYPES = (
    "AWS::DynamoDB::Table",
    "AWS::S3::Bucket",
    "AWS::SQS::Queue",
    "AWS::SecretsManager::Secret",
    "AWS::Serverless::Function",
)


class TemplateError(ValueError):
    """The template uses something the local stack cannot play; the message names it."""


# --------------------------------------------------------------------------- YAML


class CloudFormationYamlLoader(yaml.SafeLoader):  # type: ignore[misc]
    """YAML loader that reads CloudFormation short tags (!Ref, !GetAtt, !Sub...) as long form."""


def _construct_short_tag(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    elif isinstance(node, yaml.MappingNode):
        value = loader.construct_mapping(node, deep=True)
    else:  # pragma: no cover - PyYAML has only these three node kinds
        raise TemplateError(f"unexpected YAML node for !{tag_suffix}")
    if tag_suffix in ("Ref", "Condition"):
        return {tag_suffix: value}
    if tag_suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{tag_suffix}": value}


CloudFormationYamlLoader.add_multi_constructor("!", _construct_short_tag)


def load_template_document(path: Path) -> dict[str, Any]:
    """Read a SAM/CloudFormation template into plain dicts with long-form intrinsics."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise TemplateError(f"cannot read template {path}: {error}") from error
    try:
        document = yaml.load(text, Loader=CloudFormationYamlLoader)  # noqa: S506 - SafeLoader subclass  # nosec B506
    except yaml.YAMLError as error:
        raise TemplateError(f"{path} is not valid YAML: {error}") from error
    if not isinstance(document, dict) or not isinstance(document.get("Resources"), dict):
        raise TemplateError(f"{path} is not a CloudFormation template (no Resources mapping)")
    return cast("dict[str, Any]", document)


# --------------------------------------------------------------------------- model


@dataclass(frozen=True)
class TableSpec:
    """A DynamoDB table as boto3 ``create_table`` wants it, plus the TTL attribute."""

    logical_id: str
    name: str
    create_kwargs: dict[str, Any]
    ttl_attribute: str | None


@dataclass(frozen=True)
class QueueSpec:
    """An SQS queue in ``create_queue`` form (attribute values are strings)."""

    logical_id: str
    name: str
    url: str
    arn: str
    attributes: dict[str, str]
    dead_letter_logical_id: str | None = None


@dataclass(frozen=True)
class SecretSpec:
    """A Secrets Manager secret and how its first value is made."""

    logical_id: str
    name: str
    description: str | None
    secret_string: str | None = None
    secret_string_template: str | None = None
    generate_string_key: str | None = None
    password_length: int = 32
    exclude_characters: str = ""
    exclude_punctuation: bool = False

    def initial_secret_string(self) -> str:
        """Make the first value the way CloudFormation does (template + generated password)."""
        if self.secret_string is not None:
            return self.secret_string
        alphabet = string.ascii_letters + string.digits
        if not self.exclude_punctuation:
            alphabet += "!#$%&()*+,-.:;<=>?@[]^_{|}~"
        alphabet = "".join(c for c in alphabet if c not in self.exclude_characters)
        password = "".join(secrets.choice(alphabet) for _ in range(self.password_length))
        if self.secret_string_template is None:
            return password
        value = json.loads(self.secret_string_template)
        if self.generate_string_key:
            value[self.generate_string_key] = password
        return json.dumps(value)


@dataclass(frozen=True)
class ApiRoute:
    """One ``Type: Api`` event: method (upper case, ``ANY`` for all) and resource path."""

    event_id: str
    path: str
    method: str
    stage: str


@dataclass(frozen=True)
class ScheduleEvent:
    """One ``Type: Schedule`` event."""

    event_id: str
    expression: str
    enabled: bool
    rule_name: str
    input_json: str | None = None


@dataclass(frozen=True)
class SqsEvent:
    """One ``Type: SQS`` event: the event source mapping's settings."""

    event_id: str
    queue_logical_id: str
    batch_size: int
    batching_window_seconds: int
    function_response_types: tuple[str, ...]
    enabled: bool = True

    @property
    def reports_batch_item_failures(self) -> bool:
        return "ReportBatchItemFailures" in self.function_response_types


@dataclass(frozen=True)
class FunctionSpec:
    """A function as the local Lambda runtime needs it."""

    logical_id: str
    name: str
    code_dir: Path
    handler: str
    runtime: str
    timeout_seconds: int
    memory_size_mb: int
    environment: dict[str, str]
    layer_dirs: tuple[Path, ...] = ()
    api_routes: tuple[ApiRoute, ...] = ()
    schedules: tuple[ScheduleEvent, ...] = ()
    sqs_events: tuple[SqsEvent, ...] = ()


@dataclass(frozen=True)
class LocalTemplate:
    """Everything the local stack creates and runs, resolved for one stack name and endpoint."""

    path: Path
    stack_name: str
    region: str
    account_id: str
    parameters: dict[str, str]
    tables: dict[str, TableSpec] = field(default_factory=dict)
    queues: dict[str, QueueSpec] = field(default_factory=dict)
    secrets: dict[str, SecretSpec] = field(default_factory=dict)
    buckets: dict[str, str] = field(default_factory=dict)  # logical id -> bucket name
    functions: dict[str, FunctionSpec] = field(default_factory=dict)

    def queues_in_creation_order(self) -> list[QueueSpec]:
        """Dead-letter queues first, so a RedrivePolicy always points at an existing queue."""
        ordered: list[QueueSpec] = []
        placed: set[str] = set()

        def place(queue: QueueSpec, chain: tuple[str, ...]) -> None:
            if queue.logical_id in placed:
                return
            if queue.logical_id in chain:
                raise TemplateError(f"queues {' -> '.join(chain)} form a dead-letter cycle")
            dlq = queue.dead_letter_logical_id
            if dlq is not None:
                place(self.queues[dlq], (*chain, queue.logical_id))
            placed.add(queue.logical_id)
            ordered.append(queue)

        for queue in self.queues.values():
            place(queue, ())
        return ordered


# --------------------------------------------------------------------------- resolution

_NO_VALUE = object()
_SUB_PATTERN = re.compile(r"\$\{([^}]*)\}")
_TRUE_STRINGS = {"true", "1", "yes"}


def _as_bool(value: Any, where: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in (_TRUE_STRINGS | {"false", "0", "no"}):
        return value.lower() in _TRUE_STRINGS
    raise TemplateError(f"{where}: expected a boolean, got {value!r}")


def _as_int(value: Any, where: str) -> int:
    if isinstance(value, bool):
        raise TemplateError(f"{where}: expected a number, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
        return int(value)
    raise TemplateError(f"{where}: expected a whole number, got {value!r}")


def _as_str(value: Any, where: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | str):
        return str(value)
    raise TemplateError(f"{where}: expected a string, got {value!r}")


class _IntrinsicResolver:
    """Resolves intrinsic functions against local parameters, conditions and resources."""

    def __init__(
        self,
        document: dict[str, Any],
        *,
        stack_name: str,
        region: str,
        account_id: str,
        parameter_overrides: dict[str, str],
        sqs_endpoint_url: str,
    ) -> None:
        self.document = document
        self.stack_name = stack_name
        self.region = region
        self.account_id = account_id
        self.sqs_endpoint_url = sqs_endpoint_url.rstrip("/")
        self.resources: dict[str, Any] = document.get("Resources") or {}
        self.mappings: dict[str, Any] = document.get("Mappings") or {}
        self.conditions: dict[str, Any] = document.get("Conditions") or {}
        self._condition_values: dict[str, bool] = {}
        self.parameters = self._parameter_values(parameter_overrides)
        self.pseudo = {
            "AWS::StackName": stack_name,
            "AWS::StackId": f"arn:aws:cloudformation:{region}:{account_id}:stack/{stack_name}/local",
            "AWS::Region": region,
            "AWS::AccountId": account_id,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::NotificationARNs": [],
        }

    # -- parameters and conditions

    def _parameter_values(self, overrides: dict[str, str]) -> dict[str, str]:
        declared: dict[str, Any] = self.document.get("Parameters") or {}
        unknown = sorted(set(overrides) - set(declared))
        if unknown:
            raise TemplateError(f"parameter override(s) {', '.join(unknown)} not declared in the template")
        values: dict[str, str] = {}
        for name, declaration in declared.items():
            if name in overrides:
                value = str(overrides[name])
            elif "Default" in declaration:
                default = declaration["Default"]
                value = ",".join(map(str, default)) if isinstance(default, list) else _as_str(default, name)
            else:
                raise TemplateError(f"parameter {name} has no Default; pass it as an override ({name}=...)")
            allowed = declaration.get("AllowedValues")
            if allowed is not None and value not in [str(v) for v in allowed]:
                raise TemplateError(f"parameter {name}={value!r} is not one of {allowed}")
            pattern = declaration.get("AllowedPattern")
            if pattern is not None and not re.fullmatch(pattern, value):
                raise TemplateError(f"parameter {name}={value!r} does not match {pattern}")
            if declaration.get("Type") == "Number":
                try:
                    number = float(value)
                except ValueError:
                    raise TemplateError(f"parameter {name}={value!r} is not a number") from None
                low, high = declaration.get("MinValue"), declaration.get("MaxValue")
                if (low is not None and number < float(low)) or (high is not None and number > float(high)):
                    raise TemplateError(f"parameter {name}={value!r} is outside [{low}, {high}]")
            values[name] = value
        return values

    def condition(self, name: str) -> bool:
        if name not in self._condition_values:
            if name not in self.conditions:
                raise TemplateError(f"condition {name} is not declared under Conditions")
            self._condition_values[name] = _as_bool(
                self.resolve(self.conditions[name], f"Conditions.{name}"), f"Conditions.{name}"
            )
        return self._condition_values[name]

    def resource_included(self, logical_id: str) -> bool:
        condition = self.resources[logical_id].get("Condition")
        return True if condition is None else self.condition(condition)

    # -- physical names and attributes

    def physical_name(self, logical_id: str) -> str:
        resource = self.resources[logical_id]
        kind = resource.get("Type")
        properties = resource.get("Properties") or {}
        where = f"Resources.{logical_id}.Properties"
        name_property = {
            "AWS::DynamoDB::Table": "TableName",
            "AWS::SQS::Queue": "QueueName",
            "AWS::SecretsManager::Secret": "Name",
            "AWS::Serverless::Function": "FunctionName",
            "AWS::Serverless::LayerVersion": "LayerName",
        }.get(kind or "")
        if name_property and name_property in properties:
            return _as_str(self.resolve(properties[name_property], f"{where}.{name_property}"), where)
        name = f"{self.stack_name}-{logical_id}"
        if kind == "AWS::S3::Bucket":
            return name.lower()[:63]  # bucket names are lowercase
        if kind == "AWS::SQS::Queue" and _as_bool(
            self.resolve(properties.get("FifoQueue", False), f"{where}.FifoQueue"), where
        ):
            name += ".fifo"
        return name

    def queue_url(self, logical_id: str) -> str:
        return f"{self.sqs_endpoint_url}/{self.account_id}/{self.physical_name(logical_id)}"

    def arn(self, logical_id: str) -> str:
        kind = self.resources[logical_id].get("Type")
        name = self.physical_name(logical_id)
        prefix = f"arn:aws:{{}}:{self.region}:{self.account_id}:"
        if kind == "AWS::DynamoDB::Table":
            return prefix.format("dynamodb") + f"table/{name}"
        if kind == "AWS::SQS::Queue":
            return prefix.format("sqs") + name
        if kind == "AWS::SecretsManager::Secret":
            return prefix.format("secretsmanager") + f"secret:{name}"
        if kind == "AWS::S3::Bucket":
            return f"arn:aws:s3:::{name}"
        if kind == "AWS::Serverless::Function":
            return prefix.format("lambda") + f"function:{name}"
        raise TemplateError(f"GetAtt {logical_id}.Arn: type {kind} has no local ARN")

    def ref(self, name: str, where: str) -> Any:
        if name in self.pseudo:
            return self.pseudo[name]
        if name == "AWS::NoValue":
            return _NO_VALUE
        if name in self.parameters:
            declared = (self.document.get("Parameters") or {})[name]
            value = self.parameters[name]
            is_list = str(declared.get("Type", "")).startswith(("CommaDelimitedList", "List<"))
            return value.split(",") if is_list else value
        if name not in self.resources:
            raise TemplateError(f"{where}: Ref {name} names no parameter, pseudo parameter or resource")
        kind = self.resources[name].get("Type")
        if kind == "AWS::SQS::Queue":
            return self.queue_url(name)
        if kind == "AWS::SecretsManager::Secret":
            # Locally the name: the ARN carries a random suffix only known after creation,
            # and every API taking a SecretId accepts the name as well.
            return self.physical_name(name)
        if kind == "AWS::Serverless::Api":
            return hashlib.sha256(f"{self.stack_name}/{name}".encode()).hexdigest()[:10]
        if kind == "AWS::Serverless::LayerVersion":
            layer = self.physical_name(name)
            return f"arn:aws:lambda:{self.region}:{self.account_id}:layer:{layer}:1"
        return self.physical_name(name)

    def get_att(self, logical_id: str, attribute: str, where: str) -> Any:
        if logical_id not in self.resources:
            raise TemplateError(f"{where}: GetAtt {logical_id}.{attribute} names no resource")
        kind = self.resources[logical_id].get("Type")
        if attribute == "Arn" and kind in SUPPORTED_TYPES:
            return self.arn(logical_id)
        if kind == "AWS::SQS::Queue" and attribute == "QueueName":
            return self.physical_name(logical_id)
        if kind == "AWS::SQS::Queue" and attribute == "QueueUrl":
            return self.queue_url(logical_id)
        if kind == "AWS::SecretsManager::Secret" and attribute == "Id":
            return self.physical_name(logical_id)
        if kind == "AWS::DynamoDB::Table" and attribute == "StreamArn":
            return self.arn(logical_id) + "/stream/local"
        if kind == "AWS::Serverless::Api" and attribute == "RootResourceId":
            return "localroot"
        raise TemplateError(f"{where}: GetAtt {logical_id}.{attribute} ({kind}) is not supported locally")

    # -- the resolver

    def resolve(self, value: Any, where: str) -> Any:
        if isinstance(value, list):
            items = [self.resolve(item, f"{where}[{i}]") for i, item in enumerate(value)]
            return [item for item in items if item is not _NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, argument),) = value.items()
            if key == "Ref":
                return self.ref(self.resolve(argument, where), where)
            if key == "Condition" and isinstance(argument, str):
                return self.condition(argument)
            if key.startswith("Fn::"):
                return self._function(key, argument, where)
        resolved = {k: self.resolve(v, f"{where}.{k}") for k, v in value.items()}
        return {k: v for k, v in resolved.items() if v is not _NO_VALUE}

    def _function(self, key: str, argument: Any, where: str) -> Any:
        here = f"{where} ({key})"
        if key == "Fn::GetAtt":
            parts = argument.split(".", 1) if isinstance(argument, str) else self.resolve(argument, here)
            if not isinstance(parts, list) or len(parts) != 2:
                raise TemplateError(f"{here}: expected LogicalId.Attribute, got {argument!r}")
            return self.get_att(str(parts[0]), str(parts[1]), where)
        if key == "Fn::Sub":
            return self._sub(argument, here)
        if key == "Fn::If":
            if not isinstance(argument, list) or len(argument) != 3:
                raise TemplateError(f"{here}: expected [condition, then, else]")
            chosen = argument[1] if self.condition(argument[0]) else argument[2]
            return self.resolve(chosen, here)
        if key in ("Fn::Equals", "Fn::Not", "Fn::And", "Fn::Or"):
            operands = self.resolve(argument, here)
            if not isinstance(operands, list):
                raise TemplateError(f"{here}: expected a list")
            if key == "Fn::Equals":
                return len(operands) == 2 and str(operands[0]) == str(operands[1])
            flags = [_as_bool(o, here) for o in operands]
            if key == "Fn::Not":
                return not flags[0]
            return all(flags) if key == "Fn::And" else any(flags)
        if key == "Fn::Join":
            delimiter, items = self.resolve(argument, here)
            return str(delimiter).join(_as_str(item, here) for item in items)
        if key == "Fn::Select":
            index, items = self.resolve(argument, here)
            return items[_as_int(index, here)]
        if key == "Fn::Split":
            delimiter, text = self.resolve(argument, here)
            return str(text).split(str(delimiter))
        if key == "Fn::FindInMap":
            map_name, top, second = self.resolve(argument, here)[:3]
            try:
                return self.mappings[map_name][top][second]
            except KeyError:
                raise TemplateError(f"{here}: no mapping {map_name}.{top}.{second}") from None
        if key == "Fn::Base64":
            import base64

            return base64.b64encode(_as_str(self.resolve(argument, here), here).encode()).decode()
        if key == "Fn::GetAZs":
            return [f"{self.region}{zone}" for zone in "abd"]
        if key == "Fn::ToJsonString":
            return json.dumps(self.resolve(argument, here), separators=(",", ":"))
        if key == "Fn::Length":
            return len(self.resolve(argument, here))
        raise TemplateError(f"{where}: intrinsic function {key} is not supported by the local stack")

    def _sub(self, argument: Any, where: str) -> str:
        if isinstance(argument, list):
            text, variables = argument[0], self.resolve(argument[1], where)
        else:
            text, variables = argument, {}
        if not isinstance(text, str):
            raise TemplateError(f"{where}: expected a string to substitute")

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                return _as_str(variables[name], where)
            if "." in name and not name.startswith("AWS::"):
                logical_id, attribute = name.split(".", 1)
                return _as_str(self.get_att(logical_id, attribute, where), where)
            value = self.ref(name, where)
            if isinstance(value, list):
                raise TemplateError(f"{where}: ${{{name}}} is a list and cannot be substituted")
            return _as_str(value, where)

        return _SUB_PATTERN.sub(replace, text)


# --------------------------------------------------------------------------- resources

_TABLE_PROPERTIES_PASSED = (
    "AttributeDefinitions",
    "KeySchema",
    "LocalSecondaryIndexes",
    "ProvisionedThroughput",
)
_TABLE_PROPERTIES_AWS_ONLY = {
    "PointInTimeRecoverySpecification",
    "SSESpecification",
    "DeletionProtectionEnabled",
    "ContributorInsightsSpecification",
    "TableClass",
    "Tags",
    "KinesisStreamSpecification",
    "ResourcePolicy",
    "WarmThroughput",
    "OnDemandThroughput",
}
_QUEUE_ATTRIBUTES = (
    "DelaySeconds",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "ReceiveMessageWaitTimeSeconds",
    "VisibilityTimeout",
    "KmsMasterKeyId",
    "KmsDataKeyReusePeriodSeconds",
    "SqsManagedSseEnabled",
    "FifoQueue",
    "ContentBasedDeduplication",
    "DeduplicationScope",
    "FifoThroughputLimit",
)


def _table_spec(resolver: _IntrinsicResolver, logical_id: str) -> TableSpec:
    where = f"Resources.{logical_id}.Properties"
    properties = resolver.resolve(resolver.resources[logical_id].get("Properties") or {}, where)
    name = resolver.physical_name(logical_id)
    kwargs: dict[str, Any] = {"TableName": name}
    for key, value in properties.items():
        if key in _TABLE_PROPERTIES_PASSED:
            kwargs[key] = value
        elif key == "BillingMode":
            kwargs["BillingMode"] = value
        elif key == "GlobalSecondaryIndexes":
            kwargs[key] = [
                {
                    k: v
                    for k, v in index.items()
                    if k not in ("ContributorInsightsSpecification", "WarmThroughput")
                }
                for index in value
            ]
        elif key == "StreamSpecification":
            kwargs[key] = {"StreamEnabled": True, "StreamViewType": value["StreamViewType"]}
        elif key in ("TableName", "TimeToLiveSpecification") or key in _TABLE_PROPERTIES_AWS_ONLY:
            continue
        else:
            raise TemplateError(f"{where}.{key}: table property not supported by the local stack")
    if "ProvisionedThroughput" in kwargs:
        kwargs["ProvisionedThroughput"] = {
            k: _as_int(v, f"{where}.ProvisionedThroughput")
            for k, v in kwargs["ProvisionedThroughput"].items()
        }
    ttl = properties.get("TimeToLiveSpecification") or {}
    enabled = _as_bool(ttl.get("Enabled", False), f"{where}.TimeToLiveSpecification")
    return TableSpec(logical_id, name, kwargs, ttl.get("AttributeName") if enabled else None)


def _queue_spec(resolver: _IntrinsicResolver, logical_id: str, arn_to_queue: dict[str, str]) -> QueueSpec:
    where = f"Resources.{logical_id}.Properties"
    properties = resolver.resolve(resolver.resources[logical_id].get("Properties") or {}, where)
    attributes: dict[str, str] = {}
    dead_letter: str | None = None
    for key, value in properties.items():
        if key in _QUEUE_ATTRIBUTES:
            attributes[key] = _as_str(value, f"{where}.{key}")
        elif key in ("RedrivePolicy", "RedriveAllowPolicy"):
            policy = json.loads(value) if isinstance(value, str) else dict(value)
            if key == "RedrivePolicy":
                target = policy.get("deadLetterTargetArn")
                dead_letter = arn_to_queue.get(str(target))
                if dead_letter is None:
                    raise TemplateError(f"{where}.RedrivePolicy: {target} is not a queue of this template")
                policy["maxReceiveCount"] = _as_int(policy.get("maxReceiveCount"), f"{where}.{key}")
            attributes[key] = json.dumps(policy)
        elif key in ("QueueName", "Tags"):
            continue
        else:
            raise TemplateError(f"{where}.{key}: queue property not supported by the local stack")
    return QueueSpec(
        logical_id=logical_id,
        name=resolver.physical_name(logical_id),
        url=resolver.queue_url(logical_id),
        arn=resolver.arn(logical_id),
        attributes=attributes,
        dead_letter_logical_id=dead_letter,
    )


def _secret_spec(resolver: _IntrinsicResolver, logical_id: str) -> SecretSpec:
    where = f"Resources.{logical_id}.Properties"
    properties = resolver.resolve(resolver.resources[logical_id].get("Properties") or {}, where)
    generate = properties.get("GenerateSecretString")
    if "SecretString" in properties:
        return SecretSpec(
            logical_id,
            resolver.physical_name(logical_id),
            properties.get("Description"),
            secret_string=_as_str(properties["SecretString"], where),
        )
    if not isinstance(generate, dict):
        return SecretSpec(
            logical_id, resolver.physical_name(logical_id), properties.get("Description"), secret_string=""
        )
    template = generate.get("SecretStringTemplate")
    if template is not None:
        try:
            json.loads(template)
        except ValueError:
            raise TemplateError(f"{where}.GenerateSecretString.SecretStringTemplate is not JSON") from None
    return SecretSpec(
        logical_id=logical_id,
        name=resolver.physical_name(logical_id),
        description=properties.get("Description"),
        secret_string_template=template,
        generate_string_key=generate.get("GenerateStringKey"),
        password_length=_as_int(generate.get("PasswordLength", 32), f"{where}.GenerateSecretString"),
        exclude_characters=str(generate.get("ExcludeCharacters", "")),
        exclude_punctuation=_as_bool(generate.get("ExcludePunctuation", False), where),
    )


# --------------------------------------------------------------------------- functions

_FUNCTION_PROPERTIES_IGNORED = {
    "Description", "Architectures", "Tracing", "Policies", "Role", "FunctionName", "Tags",
    "ReservedConcurrentExecutions", "ProvisionedConcurrencyConfig", "AutoPublishAlias",
    "DeploymentPreference", "LoggingConfig", "EphemeralStorage", "DeadLetterQueue",
    "EventInvokeConfig", "VpcConfig", "KmsKeyArn", "RuntimeManagementConfig", "SnapStart",
    "PermissionsBoundary", "RecursiveLoop", "AssumeRolePolicyDocument", "PropagateTags",
}  # fmt: skip


def _merge_globals(global_properties: dict[str, Any], properties: dict[str, Any]) -> dict[str, Any]:
    """SAM's Globals rules: maps merge, lists add up, scalars are overridden."""
    merged = dict(global_properties)
    for key, value in properties.items():
        current = merged.get(key)
        if isinstance(current, dict) and isinstance(value, dict):
            merged[key] = _merge_globals(current, value)
        elif isinstance(current, list) and isinstance(value, list):
            merged[key] = current + value
        else:
            merged[key] = value
    return merged


def _function_spec(
    resolver: _IntrinsicResolver, logical_id: str, template_dir: Path, arn_to_queue: dict[str, str]
) -> FunctionSpec:
    where = f"Resources.{logical_id}.Properties"
    globals_function = ((resolver.document.get("Globals") or {}).get("Function")) or {}
    raw = _merge_globals(globals_function, resolver.resources[logical_id].get("Properties") or {})
    for key in raw:
        known = {
            "CodeUri",
            "Handler",
            "Runtime",
            "Timeout",
            "MemorySize",
            "Environment",
            "Layers",
            "Events",
            "PackageType",
            "InlineCode",
        }
        if key not in known and key not in _FUNCTION_PROPERTIES_IGNORED:
            raise TemplateError(f"{where}.{key}: function property not supported by the local stack")
    if raw.get("PackageType", "Zip") != "Zip" or "InlineCode" in raw:
        raise TemplateError(f"{where}: only Zip functions with a CodeUri directory run locally")
    code_uri = resolver.resolve(raw.get("CodeUri"), f"{where}.CodeUri")
    if not isinstance(code_uri, str) or code_uri.startswith("s3://"):
        raise TemplateError(f"{where}.CodeUri: only a local directory is supported, got {code_uri!r}")
    runtime = _as_str(resolver.resolve(raw.get("Runtime", ""), f"{where}.Runtime"), where)
    if not runtime.startswith("python3"):
        raise TemplateError(f"{where}.Runtime: {runtime!r} is not supported locally (Python runtimes only)")
    handler = _as_str(resolver.resolve(raw.get("Handler"), f"{where}.Handler"), f"{where}.Handler")
    if "." not in handler:
        raise TemplateError(f"{where}.Handler: expected module.function, got {handler!r}")
    variables = resolver.resolve(
        ((raw.get("Environment") or {}).get("Variables")) or {}, f"{where}.Environment"
    )
    environment = {str(k): _as_str(v, f"{where}.Environment.Variables.{k}") for k, v in variables.items()}

    layer_dirs: list[Path] = []
    for index, layer in enumerate(raw.get("Layers") or []):
        layer_id = layer.get("Ref") if isinstance(layer, dict) else None
        resource = resolver.resources.get(layer_id) if isinstance(layer_id, str) else None
        if resource and resource.get("Type") == "AWS::Serverless::LayerVersion":
            content = resolver.resolve(
                (resource.get("Properties") or {}).get("ContentUri"), f"{where}.Layers"
            )
            if isinstance(content, str):
                layer_dirs.append((template_dir / content).resolve())
                continue
        raise TemplateError(
            f"{where}.Layers[{index}]: only layers of this template (Ref to a LayerVersion) "
            f"run locally, got {layer!r}"
        )

    name = resolver.physical_name(logical_id)
    routes: list[ApiRoute] = []
    schedules: list[ScheduleEvent] = []
    sqs_events: list[SqsEvent] = []
    for event_id, event in (raw.get("Events") or {}).items():
        event_where = f"{where}.Events.{event_id}"
        kind = event.get("Type")
        props = resolver.resolve(event.get("Properties") or {}, event_where)
        if kind == "Api":
            routes.append(_api_route(resolver, event_id, event, props, event_where))
        elif kind == "Schedule":
            enabled = _as_bool(props.get("Enabled", True), event_where)
            if "State" in props:
                enabled = str(props["State"]).upper() == "ENABLED"
            input_json = props.get("Input")
            schedules.append(
                ScheduleEvent(
                    event_id=event_id,
                    expression=_as_str(props.get("Schedule"), f"{event_where}.Schedule"),
                    enabled=enabled,
                    rule_name=str(props.get("Name") or f"{resolver.stack_name}-{logical_id}{event_id}"),
                    input_json=None if input_json is None else _as_str(input_json, f"{event_where}.Input"),
                )
            )
        elif kind == "SQS":
            sqs_events.append(_sqs_event(event_id, props, event_where, arn_to_queue))
        else:
            raise TemplateError(
                f"{event_where}: event type {kind} is not supported by the local stack "
                "(Api, Schedule and SQS are)"
            )
    return FunctionSpec(
        logical_id=logical_id,
        name=name,
        code_dir=(template_dir / code_uri).resolve(),
        handler=handler,
        runtime=runtime,
        timeout_seconds=_as_int(resolver.resolve(raw.get("Timeout", 3), where), f"{where}.Timeout"),
        memory_size_mb=_as_int(resolver.resolve(raw.get("MemorySize", 128), where), f"{where}.MemorySize"),
        environment=environment,
        layer_dirs=tuple(layer_dirs),
        api_routes=tuple(routes),
        schedules=tuple(schedules),
        sqs_events=tuple(sqs_events),
    )


def _api_route(
    resolver: _IntrinsicResolver, event_id: str, event: dict[str, Any], props: dict[str, Any], where: str
) -> ApiRoute:
    unsupported = set(props) - {"Path", "Method", "RestApiId", "RequestParameters", "RequestModel", "Auth"}
    if unsupported:
        raise TemplateError(f"{where}: Api event properties {sorted(unsupported)} not supported locally")
    stage = "Prod"
    raw_api = (event.get("Properties") or {}).get("RestApiId")
    api_id = raw_api.get("Ref") if isinstance(raw_api, dict) else None
    if isinstance(api_id, str) and api_id in resolver.resources:
        api_props = resolver.resources[api_id].get("Properties") or {}
        stage = _as_str(resolver.resolve(api_props.get("StageName", "Prod"), f"Resources.{api_id}"), where)
    path = _as_str(props.get("Path"), f"{where}.Path")
    if not path.startswith("/"):
        raise TemplateError(f"{where}.Path: must start with '/', got {path!r}")
    method = _as_str(props.get("Method"), f"{where}.Method").upper()
    return ApiRoute(event_id=event_id, path=path, method=method, stage=stage)


def _sqs_event(event_id: str, props: dict[str, Any], where: str, arn_to_queue: dict[str, str]) -> SqsEvent:
    unsupported = set(props) - {
        "Queue",
        "BatchSize",
        "MaximumBatchingWindowInSeconds",
        "FunctionResponseTypes",
        "Enabled",
        "ScalingConfig",
    }
    if unsupported:
        raise TemplateError(f"{where}: SQS event properties {sorted(unsupported)} not supported locally")
    queue_arn = str(props.get("Queue"))
    queue_id = arn_to_queue.get(queue_arn)
    if queue_id is None:
        raise TemplateError(f"{where}.Queue: {queue_arn} is not a queue of this template")
    return SqsEvent(
        event_id=event_id,
        queue_logical_id=queue_id,
        batch_size=_as_int(props.get("BatchSize", 10), f"{where}.BatchSize"),
        batching_window_seconds=_as_int(
            props.get("MaximumBatchingWindowInSeconds", 0), f"{where}.MaximumBatchingWindowInSeconds"
        ),
        function_response_types=tuple(str(t) for t in props.get("FunctionResponseTypes") or ()),
        enabled=_as_bool(props.get("Enabled", True), f"{where}.Enabled"),
    )


def load_local_template(
    path: Path,
    *,
    stack_name: str = DEFAULT_STACK_NAME,
    region: str = DEFAULT_REGION,
    account_id: str = DEFAULT_ACCOUNT_ID,
    parameter_overrides: dict[str, str] | None = None,
    sqs_endpoint_url: str = "http://127.0.0.1:5000",
) -> LocalTemplate:
    """Read template.yaml and resolve everything the local stack creates and runs.

    ``sqs_endpoint_url`` is where moto answers: queue URLs (``Ref`` of a queue) contain it.
    """
    path = path.resolve()
    document = load_template_document(path)
    resolver = _IntrinsicResolver(
        document,
        stack_name=stack_name,
        region=region,
        account_id=account_id,
        parameter_overrides=dict(parameter_overrides or {}),
        sqs_endpoint_url=sqs_endpoint_url,
    )
    model = LocalTemplate(
        path=path,
        stack_name=stack_name,
        region=region,
        account_id=account_id,
        parameters=dict(resolver.parameters),
    )
    included: dict[str, str] = {}
    for logical_id, resource in resolver.resources.items():
        kind = resource.get("Type") if isinstance(resource, dict) else None
        if kind in LOCALLY_IGNORED_TYPES:
            continue
        if kind not in SUPPORTED_TYPES:
            raise TemplateError(
                f"Resources.{logical_id}: type {kind} is not supported by the local stack "
                f"(supported: {', '.join(SUPPORTED_TYPES)}; ignored: {', '.join(LOCALLY_IGNORED_TYPES)})"
            )
        if resolver.resource_included(logical_id):
            included[logical_id] = kind
    arn_to_queue = {resolver.arn(q): q for q, kind in included.items() if kind == "AWS::SQS::Queue"}
    for logical_id, kind in included.items():
        if kind == "AWS::DynamoDB::Table":
            model.tables[logical_id] = _table_spec(resolver, logical_id)
        elif kind == "AWS::SQS::Queue":
            model.queues[logical_id] = _queue_spec(resolver, logical_id, arn_to_queue)
        elif kind == "AWS::SecretsManager::Secret":
            model.secrets[logical_id] = _secret_spec(resolver, logical_id)
        elif kind == "AWS::S3::Bucket":
            # Encryption, versioning, lifecycle and public access blocks are AWS-only settings.
            model.buckets[logical_id] = resolver.physical_name(logical_id)
    for logical_id, kind in included.items():
        if kind == "AWS::Serverless::Function":
            model.functions[logical_id] = _function_spec(resolver, logical_id, path.parent, arn_to_queue)
    return model
