"""What an operator checks in template.yaml: the alarms, the dashboard, and IAM without wildcards.

The dashboard's product metrics are compared with the names the package really emits (every
``metrics.add_metric`` call in its source), so renaming a metric in the code fails here.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from contactsync.use_cases.subscription_links import LinkPage
from contactsync_ops.local_stack.template_model import load_template_document

PROJECT_ROOT = Path(__file__).resolve().parents[2]
PACKAGE_DIR = PROJECT_ROOT / "layers" / "contactsync" / "contactsync"

# f-string parts of metric names, and the values they take.
NAME_EXPANSIONS: dict[str, list[str]] = {"outcome.page.value": [page.value for page in LinkPage]}

# Statements allowed a "*" in Action or Resource, and why. Nothing else may have one.
WILDCARDS_WRITTEN_DOWN: dict[tuple[str, str], str] = {
    ("QueueKey", "AccountAdministersTheKeyThroughIam"): (
        "AWS's default key policy: in a key policy Resource '*' is the key itself, and kms:* for the "
        "account root only delegates the key to IAM policies, which name the key"
    ),
}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template_document(PROJECT_ROOT / "template.yaml")


@pytest.fixture(scope="module")
def emitted_metric_names() -> set[str]:
    return set(metric_names_in_source(PACKAGE_DIR))


# --------------------------------------------------------------------------- reading the code


def metric_names_in_source(package_dir: Path) -> Iterator[str]:
    """Every name passed to ``add_metric(name=...)``, literal, conditional, looped over or f-string."""
    for path in sorted(package_dir.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        loop_values = _loop_variable_strings(tree)
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            if node.func.attr != "add_metric":
                continue
            name = next((kw.value for kw in node.keywords if kw.arg == "name"), None)
            if name is None:
                raise AssertionError(f"{path}:{node.lineno}: add_metric without name=")
            yield from _names_of(name, loop_values, f"{path}:{node.lineno}")


def _loop_variable_strings(tree: ast.AST) -> dict[str, list[str]]:
    """``for name, value in (("A", a), ("B", b))``: the strings each loop variable takes."""
    values: dict[str, list[str]] = {}
    for node in ast.walk(tree):
        if not (isinstance(node, ast.For) and isinstance(node.iter, ast.Tuple | ast.List)):
            continue
        targets = node.target.elts if isinstance(node.target, ast.Tuple) else [node.target]
        for index, target in enumerate(targets):
            if not isinstance(target, ast.Name):
                continue
            for item in node.iter.elts:
                element = item.elts[index] if isinstance(item, ast.Tuple) else item
                if isinstance(element, ast.Constant) and isinstance(element.value, str):
                    values.setdefault(target.id, []).append(element.value)
    return values


def _names_of(expression: ast.expr, loop_values: dict[str, list[str]], where: str) -> Iterator[str]:
    if isinstance(expression, ast.Constant) and isinstance(expression.value, str):
        yield expression.value
    elif isinstance(expression, ast.IfExp):
        yield from _names_of(expression.body, loop_values, where)
        yield from _names_of(expression.orelse, loop_values, where)
    elif isinstance(expression, ast.Name) and expression.id in loop_values:
        yield from loop_values[expression.id]
    elif isinstance(expression, ast.JoinedStr):
        names = [""]
        for part in expression.values:
            if isinstance(part, ast.Constant):
                names = [name + str(part.value) for name in names]
                continue
            assert isinstance(part, ast.FormattedValue)
            source = ast.unparse(part.value)
            if source not in NAME_EXPANSIONS:
                raise AssertionError(f"{where}: add NAME_EXPANSIONS[{source!r}] to this test")
            names = [name + value for name in names for value in NAME_EXPANSIONS[source]]
        yield from names
    else:
        raise AssertionError(f"{where}: cannot tell the metric name of {ast.unparse(expression)}")


def test_the_metric_name_reader_sees_every_kind_of_call(tmp_path: Path) -> None:
    # Given source with a literal, a conditional, a loop and an f-string metric name
    (tmp_path / "emitting.py").write_text(
        "metrics.add_metric(name='Plain', unit='Count', value=1)\n"
        "metrics.add_metric(name='Sent' if ok else 'Skipped', unit='Count', value=1)\n"
        "for name, value in (('Added', 1), ('Updated', 2)):\n"
        "    metrics.add_metric(name=name, unit='Count', value=value)\n"
        "metrics.add_metric(name=f'LinkPage_{outcome.page.value}', unit='Count', value=1)\n",
        encoding="utf-8",
    )
    # When the names are read
    names = set(metric_names_in_source(tmp_path))
    # Then each one the code can emit is there, and nothing else
    assert names == {"Plain", "Sent", "Skipped", "Added", "Updated"} | {
        f"LinkPage_{page.value}" for page in LinkPage
    }


# --------------------------------------------------------------------------- reading the template


def resources_of_type(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {key: value for key, value in template["Resources"].items() if value["Type"] == kind}


def metrics_namespace(template: dict[str, Any]) -> str:
    return str(template["Globals"]["Function"]["Environment"]["Variables"]["POWERTOOLS_METRICS_NAMESPACE"])


def service_name(template: dict[str, Any]) -> str:
    return str(template["Globals"]["Function"]["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"])


def dashboard_widgets(template: dict[str, Any]) -> list[dict[str, Any]]:
    (dashboard,) = resources_of_type(template, "AWS::CloudWatch::Dashboard").values()
    body = dashboard["Properties"]["DashboardBody"]["Fn::Sub"]
    # Placeholders become their own text, so a metric's dimension says which resource it names.
    return list(json.loads(re.sub(r"\$\{([^}]*)\}", r"<\1>", body))["widgets"])


def dashboard_metrics(template: dict[str, Any]) -> list[list[Any]]:
    """Each metric line of the dashboard, in full form (a "." repeats the line above)."""
    lines: list[list[Any]] = []
    for widget in dashboard_widgets(template):
        for line in widget["properties"].get("metrics", []):
            items = [item for item in line if not isinstance(item, dict)]
            if lines and any(item == "." for item in items):
                items = [lines[-1][i] if item == "." else item for i, item in enumerate(items)]
            lines.append(items)
    return lines


def watched_metric(alarm: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
    properties = alarm["Properties"]
    dimensions = {d["Name"]: d["Value"] for d in properties.get("Dimensions", [])}
    return properties["Namespace"], properties["MetricName"], dimensions


# --------------------------------------------------------------------------- alarms


@pytest.mark.parametrize(
    ("alarm_id", "namespace", "metric", "dimensions"),
    [
        ("FailedSyncRunsAlarm", "ContactSync", "SyncRunsFailed", {"service": "contactsync"}),
        (
            "PushDeadLetterAlarm",
            "AWS/SQS",
            "ApproximateNumberOfMessagesVisible",
            {"QueueName": {"Fn::GetAtt": ["PushDeadLetterQueue", "QueueName"]}},
        ),
        (
            "MailDeadLetterAlarm",
            "AWS/SQS",
            "ApproximateNumberOfMessagesVisible",
            {"QueueName": {"Fn::GetAtt": ["MailDeadLetterQueue", "QueueName"]}},
        ),
        (
            "SyncDeadLetterAlarm",
            "AWS/SQS",
            "ApproximateNumberOfMessagesVisible",
            {"QueueName": {"Fn::GetAtt": ["SyncDeadLetterQueue", "QueueName"]}},
        ),
        ("PushErrorsAlarm", "AWS/Lambda", "Errors", {"FunctionName": {"Ref": "PushFunction"}}),
    ],
)
def test_each_alarm_watches_its_resource_and_metric(
    template: dict[str, Any], alarm_id: str, namespace: str, metric: str, dimensions: dict[str, Any]
) -> None:
    # Given the alarm an operator relies on
    alarm = template["Resources"][alarm_id]
    # When its metric is read
    # Then it is the named metric of the named resource, and any count above zero fires it
    assert alarm["Type"] == "AWS::CloudWatch::Alarm"
    assert watched_metric(alarm) == (namespace, metric, dimensions)
    assert alarm["Properties"]["Threshold"] == 0
    assert alarm["Properties"]["ComparisonOperator"] == "GreaterThanThreshold"


def test_every_dead_letter_queue_has_an_alarm(template: dict[str, Any]) -> None:
    # Given every queue that another queue (or a function) dead-letters into
    dead_letter_queues = {
        queue["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
        for queue in resources_of_type(template, "AWS::SQS::Queue").values()
        if "RedrivePolicy" in queue["Properties"]
    }
    # When the alarms on queue depth are collected
    alarmed = {
        dimensions["QueueName"]["Fn::GetAtt"][0]
        for alarm in resources_of_type(template, "AWS::CloudWatch::Alarm").values()
        if "MetricName" in alarm["Properties"]
        for namespace, metric, dimensions in [watched_metric(alarm)]
        if (namespace, metric) == ("AWS/SQS", "ApproximateNumberOfMessagesVisible")
    }
    # Then no dead-letter queue fills up unseen
    assert dead_letter_queues == {"PushDeadLetterQueue", "MailDeadLetterQueue", "SyncDeadLetterQueue"}
    assert dead_letter_queues <= alarmed


def test_the_api_5xx_alarm_is_a_share_of_the_apis_requests(template: dict[str, Any]) -> None:
    # Given the 5xx-rate alarm
    properties = template["Resources"]["Api5xxRateAlarm"]["Properties"]
    queries = {query["Id"]: query for query in properties["Metrics"]}
    # When its metric math is read
    (returned,) = [query for query in queries.values() if query.get("ReturnData")]
    inputs = {
        query_id: query["MetricStat"]["Metric"]
        for query_id, query in queries.items()
        if "MetricStat" in query
    }
    # Then it divides the 5XXError sum by the request count of this stack's API and stage
    assert {metric["MetricName"] for metric in inputs.values()} == {"5XXError", "Count"}
    errors = next(i for i, m in inputs.items() if m["MetricName"] == "5XXError")
    requests = next(i for i, m in inputs.items() if m["MetricName"] == "Count")
    assert re.search(rf"\b{errors}\s*/\s*{requests}\b", returned["Expression"])
    api_name = template["Resources"]["ContactsyncApi"]["Properties"]["Name"]
    for metric in inputs.values():
        assert metric["Namespace"] == "AWS/ApiGateway"
        dimensions = {d["Name"]: d["Value"] for d in metric["Dimensions"]}
        assert dimensions == {"ApiName": api_name, "Stage": {"Ref": "Stage"}}
    assert properties["Threshold"] == {"Ref": "Api5xxRatePercent"}


def test_every_alarm_notifies_the_alarm_topic_when_one_is_given(template: dict[str, Any]) -> None:
    # Given every alarm of the template
    alarms = resources_of_type(template, "AWS::CloudWatch::Alarm")
    # When their actions are read
    actions = {alarm_id: alarm["Properties"].get("AlarmActions") for alarm_id, alarm in alarms.items()}
    # Then each sends to the AlarmTopicArn parameter's topic (when it is set)
    expected = {"Fn::If": ["HasAlarmTopic", [{"Ref": "AlarmTopicArn"}], {"Ref": "AWS::NoValue"}]}
    assert len(alarms) >= 6
    assert actions == dict.fromkeys(alarms, expected)


def test_product_metrics_of_alarms_are_ones_the_code_emits(
    template: dict[str, Any], emitted_metric_names: set[str]
) -> None:
    # Given the alarms on the product's own namespace
    namespace = metrics_namespace(template)
    watched = {
        alarm["Properties"]["MetricName"]
        for alarm in resources_of_type(template, "AWS::CloudWatch::Alarm").values()
        if alarm["Properties"].get("Namespace") == namespace
    }
    # Then the code emits each metric they watch
    assert watched
    assert watched <= emitted_metric_names


# --------------------------------------------------------------------------- dashboard


def test_every_dashboard_product_metric_is_one_the_code_emits(
    template: dict[str, Any], emitted_metric_names: set[str]
) -> None:
    # Given the dashboard's metrics in the namespace the functions publish to (Globals)
    namespace = metrics_namespace(template)
    product_lines = [line for line in dashboard_metrics(template) if line[0] == namespace]
    # When their names are compared with what the package's add_metric calls emit
    names = {line[1] for line in product_lines}
    # Then none is a name nobody emits, and each carries the service dimension Powertools adds
    assert names - emitted_metric_names == set()
    assert all(line[2:] == ["service", service_name(template)] for line in product_lines)


def test_the_dashboard_shows_what_the_issue_asks_for(template: dict[str, Any]) -> None:
    # Given the dashboard
    lines = {tuple(line) for line in dashboard_metrics(template)}
    product = {line[1] for line in lines if line[0] == metrics_namespace(template)}
    # Then contacts ingested, opt-ins sent and confirmed, pushes delivered and failed are on it
    assert {"ContactsAccepted", "ContactsRejected"} <= product
    assert {"OptInsRequested", "ConfirmationMailsSent", f"LinkPage_{LinkPage.CONFIRMED.value}"} <= product
    assert {"PushesSent", "PushesRetried", "PushesDeadLettered"} <= product
    # And the Sync function's run durations, the dead-letter queue depths and the API's health
    assert ("AWS/Lambda", "Duration", "FunctionName", "<SyncFunction>") in lines
    for queue in ("PushDeadLetterQueue", "MailDeadLetterQueue", "SyncDeadLetterQueue"):
        assert ("AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", f"<{queue}.QueueName>") in lines
    api = ("ApiName", "<AWS::StackName>", "Stage", "<Stage>")
    for metric in ("Count", "4XXError", "5XXError", "Latency"):
        assert ("AWS/ApiGateway", metric, *api) in lines
    assert template["Resources"]["ContactsyncApi"]["Properties"]["Name"] == {"Ref": "AWS::StackName"}


def test_the_dashboard_lists_every_alarm(template: dict[str, Any]) -> None:
    # Given the dashboard's alarm widget
    listed = {
        alarm
        for widget in dashboard_widgets(template)
        if widget["type"] == "alarm"
        for alarm in widget["properties"]["alarms"]
    }
    # Then every alarm of the template is on it
    alarms = resources_of_type(template, "AWS::CloudWatch::Alarm")
    assert listed == {f"<{alarm_id}.Arn>" for alarm_id in alarms}


# --------------------------------------------------------------------------- IAM and keys


def policy_statements(template: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(resource id, statement) for the functions' inline policies and every policy document."""
    for resource_id, resource in template["Resources"].items():
        properties = resource.get("Properties") or {}
        for policy in properties.get("Policies") or []:
            if isinstance(policy, dict) and "Statement" in policy:
                for statement in policy["Statement"]:
                    yield resource_id, statement
        for key in ("KeyPolicy", "PolicyDocument", "AssumeRolePolicyDocument"):
            for statement in (properties.get(key) or {}).get("Statement", []):
                yield resource_id, statement


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_no_policy_statement_has_a_wildcard_unless_written_down(template: dict[str, Any]) -> None:
    # Given every policy statement of the template
    statements = list(policy_statements(template))
    # When the statements with a "*" in an action or a resource are collected
    wildcards = {
        (resource_id, statement.get("Sid", "?"))
        for resource_id, statement in statements
        if any(isinstance(item, str) and "*" in item for item in as_list(statement.get("Resource")))
        or any("*" in action for action in as_list(statement.get("Action")))
    }
    # Then they are exactly the ones written down with a reason
    assert len(statements) > 10
    assert wildcards == set(WILDCARDS_WRITTEN_DOWN)


def test_the_queues_use_the_stack_key_and_each_function_may_use_it(template: dict[str, Any]) -> None:
    # Given the queues (personal data) and the functions that send to or read them
    queues = resources_of_type(template, "AWS::SQS::Queue")
    functions = resources_of_type(template, "AWS::Serverless::Function")
    # Then every queue is encrypted with the stack's key
    assert [q["Properties"].get("KmsMasterKeyId") for q in queues.values()] == [{"Ref": "QueueKey"}] * 6
    # And a function that sends may make data keys, and one that sends or reads may decrypt
    for function_id, function in functions.items():
        properties = function["Properties"]
        templates = {name for policy in properties["Policies"] for name in policy if name != "Statement"}
        sends = "SQSSendMessagePolicy" in templates or "DeadLetterQueue" in properties
        reads = "SQSPollerPolicy" in templates
        granted = {
            action
            for resource_id, statement in policy_statements({"Resources": {function_id: function}})
            if statement.get("Resource") == {"Fn::GetAtt": ["QueueKey", "Arn"]}
            for action in as_list(statement["Action"])
        }
        if sends:
            assert {"kms:GenerateDataKey", "kms:Decrypt"} <= granted, function_id
        if reads:
            assert "kms:Decrypt" in granted, function_id


def test_queue_pollers_fit_in_the_functions_reserved_concurrency(template: dict[str, Any]) -> None:
    # Given each function's reserved concurrency and its SQS event sources' maximum concurrency
    for function_id, function in resources_of_type(template, "AWS::Serverless::Function").items():
        properties = function["Properties"]
        events = properties.get("Events", {}).values()
        if any(event["Type"] == "Api" for event in events):
            # The API functions have no ceiling: a throttled Lambda would answer a burst with 5xx
            assert "ReservedConcurrentExecutions" not in properties, function_id
            continue
        reserved = properties["ReservedConcurrentExecutions"]
        pollers = sum(
            event["Properties"]["ScalingConfig"]["MaximumConcurrency"]
            for event in properties.get("Events", {}).values()
            if event["Type"] == "SQS"
        )
        has_other_triggers = any(event["Type"] != "SQS" for event in properties.get("Events", {}).values())
        # Then pollers never get throttled, and a schedule or the API still has room
        assert pollers <= reserved, function_id
        if has_other_triggers:
            assert pollers < reserved, function_id


def test_the_functions_that_store_contacts_may_do_every_write_their_transactions_hold(
    template: dict[str, Any],
) -> None:
    # Given the functions that run Ingest's use case (webhooks, imports): their transactions put
    # contacts, update them, check versions and, on an email change, delete the old address's guard
    functions = resources_of_type(template, "AWS::Serverless::Function")
    for function_id in ("IngestFunction", "SyncFunction"):
        # When the actions granted on the contacts table are collected
        granted = {
            action
            for _, statement in policy_statements({"Resources": {function_id: functions[function_id]}})
            if statement.get("Resource") == {"Fn::GetAtt": ["ContactsTable", "Arn"]}
            for action in as_list(statement["Action"])
        }
        # Then each kind of transaction item is allowed (AWS refuses the whole transaction otherwise)
        needed = {
            "dynamodb:PutItem",
            "dynamodb:UpdateItem",
            "dynamodb:DeleteItem",
            "dynamodb:ConditionCheckItem",
        }
        assert needed <= granted, (function_id, needed - granted)
