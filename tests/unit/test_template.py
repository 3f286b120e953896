"""template.yaml: the routes, the queue wiring, least privilege and the runtime every function runs on."""

from __future__ import annotations

from typing import Any

import pytest

from devstack.template import REPO as ROOT
from devstack.template import load_template, parse_yaml
from incident_core.models import Source

RUNTIME = "python3.13"
ARCHITECTURE = "arm64"
GUARDED_SERVICES = ("secretsmanager", "dynamodb", "sqs")
# SAM policy templates a function may use; each is scoped by its arguments (checked below).
SCOPED_POLICY_TEMPLATES = {
    "SQSSendMessagePolicy",
    "SQSPollerPolicy",
    "AWSSecretsManagerGetSecretValuePolicy",
    "DynamoDBCrudPolicy",
    "DynamoDBReadPolicy",
    "DynamoDBWritePolicy",
    "StepFunctionsExecutionPolicy",
    "LambdaInvokePolicy",
    "SNSPublishMessagePolicy",
}
# Intrinsics the local stack can resolve inside Environment.Variables.
ENV_INTRINSICS = {"Ref", "Fn::GetAtt"}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template()


@pytest.fixture(scope="module")
def resources(template: dict[str, Any]) -> dict[str, Any]:
    return template["Resources"]


def functions_of(resources: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        logical_id: resource.get("Properties", {})
        for logical_id, resource in resources.items()
        if resource["Type"] == "AWS::Serverless::Function"
    }


def ingest_logical_id(source: Source) -> str:
    return f"Ingest{source.value.capitalize()}Function"


# ------------------------------------------------------------------------------------------------------------
# Least-privilege checks, kept as functions so that they can be tested against bad policies too
# ------------------------------------------------------------------------------------------------------------


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _is_resource_reference(value: Any, resources: dict[str, Any]) -> bool:
    """`!Ref X` or `!GetAtt X.Attr` where X is a resource of this template (not '*', not a parameter)."""
    if not isinstance(value, dict) or len(value) != 1:
        return False
    ((intrinsic, argument),) = value.items()
    if intrinsic == "Ref":
        return argument in resources
    if intrinsic == "Fn::GetAtt":
        return _as_list(argument)[0] in resources
    return False


def least_privilege_violations(policies: Any, resources: dict[str, Any]) -> list[str]:
    """Why a function's `Policies` grant more than its own resources on secretsmanager, dynamodb or sqs."""
    violations: list[str] = []
    for policy in _as_list(policies or []):
        if isinstance(policy, str):
            if any(service in policy.lower() for service in GUARDED_SERVICES):
                violations.append(f"managed policy {policy} is not scoped to this stack's resources")
            continue
        if "Statement" in policy:
            violations.extend(_statement_violations(policy["Statement"]))
            continue
        for template_name, arguments in policy.items():
            if template_name not in SCOPED_POLICY_TEMPLATES:
                violations.append(f"policy template {template_name} is not in the reviewed list")
                continue
            for argument_name, argument in (arguments or {}).items():
                if not _is_resource_reference(argument, resources):
                    violations.append(f"{template_name}.{argument_name} = {argument!r} is not a resource")
    return violations


def _statement_violations(statements: Any) -> list[str]:
    violations = []
    for statement in _as_list(statements):
        if statement.get("Effect") != "Allow":
            continue
        actions = [str(action).lower() for action in _as_list(statement.get("Action", []))]
        guarded = [a for a in actions if a == "*" or a.split(":", 1)[0] in GUARDED_SERVICES]
        wildcard = any(resource == "*" for resource in _as_list(statement.get("Resource", [])))
        if guarded and wildcard:
            violations.append(f"{guarded} on Resource '*'")
    return violations


# ------------------------------------------------------------------------------------------------------------
# Tests
# ------------------------------------------------------------------------------------------------------------


def test_template_is_a_sam_template(template: dict[str, Any]) -> None:
    assert template["AWSTemplateFormatVersion"] == "2010-09-09"
    assert template["Transform"] == "AWS::Serverless-2016-10-31"


def test_loader_expands_short_tags() -> None:
    document = parse_yaml("a: !Ref Queue\nb: !GetAtt Queue.Arn\nc: !Sub 'https://${Api}'\nd: !Join [',', [x, y]]\n")
    assert document == {
        "a": {"Ref": "Queue"},
        "b": {"Fn::GetAtt": ["Queue", "Arn"]},
        "c": {"Fn::Sub": "https://${Api}"},
        "d": {"Fn::Join": [",", ["x", "y"]]},
    }


@pytest.mark.parametrize("source", list(Source), ids=lambda source: source.value)
def test_every_source_has_its_ingest_function_and_route(resources: dict[str, Any], source: Source) -> None:
    logical_id = ingest_logical_id(source)
    assert logical_id in resources, f"{logical_id} is missing"
    function = resources[logical_id]
    assert function["Type"] == "AWS::Serverless::Function"
    properties = function["Properties"]
    assert properties["CodeUri"] == f"functions/ingest_{source.value}/"
    assert properties["Handler"] == "app.handler"

    http_events = [e["Properties"] for e in properties["Events"].values() if e["Type"] == "HttpApi"]
    assert len(http_events) == 1
    (event,) = http_events
    assert event["Method"].upper() == "POST"
    assert event["Path"] == f"/webhooks/{source.value}"
    assert event["ApiId"] == {"Ref": "HttpApi"}
    # Each route has its own throttle: a storm from one tool does not starve another.
    assert {"ThrottlingBurstLimit", "ThrottlingRateLimit"} <= set(event["RouteSettings"])

    variables = properties["Environment"]["Variables"]
    assert variables["ALERT_QUEUE_URL"] == {"Ref": "AlertQueue"}
    assert variables["WEBHOOK_SECRETS_NAME"] == {"Ref": "WebhookSecrets"}
    assert "MAX_BODY_BYTES" in variables

    app = ROOT / "functions" / f"ingest_{source.value}" / "app.py"
    assert f"make_ingest_handler(Source.{source.name})" in app.read_text(encoding="utf-8")


def test_there_is_no_ingest_function_without_a_source(resources: dict[str, Any]) -> None:
    expected = {ingest_logical_id(source) for source in Source}
    ingest = {logical_id for logical_id in functions_of(resources) if logical_id.startswith("Ingest")}
    assert ingest == expected


@pytest.mark.parametrize("source", list(Source), ids=lambda source: source.value)
def test_every_webhook_url_is_an_output(template: dict[str, Any], source: Source) -> None:
    output = template["Outputs"][f"{source.value.capitalize()}WebhookUrl"]
    assert output["Value"]["Fn::Sub"].endswith(f"/webhooks/{source.value}")


def test_processor_reports_batch_item_failures(resources: dict[str, Any]) -> None:
    properties = resources["AlertProcessorFunction"]["Properties"]
    sqs_events = [e["Properties"] for e in properties["Events"].values() if e["Type"] == "SQS"]
    assert len(sqs_events) == 1
    (event,) = sqs_events
    assert event["Queue"] == {"Fn::GetAtt": ["AlertQueue", "Arn"]}
    assert "ReportBatchItemFailures" in event["FunctionResponseTypes"]
    assert 1 <= event["BatchSize"] <= 10  # the FIFO maximum


def test_alert_queue_is_fifo_and_redrives_to_a_fifo_dead_letter_queue(resources: dict[str, Any]) -> None:
    queue = resources["AlertQueue"]
    assert queue["Type"] == "AWS::SQS::Queue"
    assert queue["Properties"]["FifoQueue"] is True

    redrive = queue["Properties"]["RedrivePolicy"]
    target = redrive["deadLetterTargetArn"]
    assert target == {"Fn::GetAtt": ["AlertDeadLetterQueue", "Arn"]}
    assert "maxReceiveCount" in redrive

    dead_letter = resources["AlertDeadLetterQueue"]
    assert dead_letter["Type"] == "AWS::SQS::Queue"
    assert dead_letter["Properties"]["FifoQueue"] is True
    assert dead_letter["Properties"]["MessageRetentionPeriod"] == 14 * 24 * 3600


def test_queue_visibility_outlasts_the_processor(resources: dict[str, Any]) -> None:
    processor_timeout = resources["AlertProcessorFunction"]["Properties"]["Timeout"]
    assert resources["AlertQueue"]["Properties"]["VisibilityTimeout"] >= 6 * processor_timeout


@pytest.mark.parametrize("table", ["AlertsTable", "PortEntitiesTable", "PortOutboxTable"])
def test_tables(resources: dict[str, Any], table: str) -> None:
    assert resources[table]["Type"] == "AWS::DynamoDB::Table"
    properties = resources[table]["Properties"]
    assert properties["BillingMode"] == "PAY_PER_REQUEST"
    assert properties["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}]
    assert properties["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert properties["SSESpecification"]["SSEEnabled"] is True
    assert properties["TimeToLiveSpecification"] == {"AttributeName": "expiresAt", "Enabled": True}


OUTBOX_WRITES = {
    "Statement": [
        {
            "Effect": "Allow",
            "Action": ["dynamodb:BatchGetItem", "dynamodb:PutItem", "dynamodb:DeleteItem"],
            "Resource": {"Fn::GetAtt": ["PortOutboxTable", "Arn"]},
        }
    ]
}
"""What every function that projects into Port may do with the outbox: read entries, keep and settle them."""


PROJECTING_FUNCTIONS = [
    "AlertProcessorFunction",
    "ActionWorkerFunction",
    "ProviderWebhookPagerDutyFunction",
    "ProviderWebhookJiraFunction",
    "ProviderWebhookIncidentIoFunction",
    "ProviderWebhookFireHydrantFunction",
    "ReconcileProvidersFunction",
    "EscalationNotifyFunction",
    "ExpireAlertsFunction",
]


@pytest.mark.parametrize("logical_id", PROJECTING_FUNCTIONS)
def test_every_function_that_projects_into_port_keeps_what_port_missed(
    resources: dict[str, Any], logical_id: str
) -> None:
    properties = resources[logical_id]["Properties"]
    assert properties["Environment"]["Variables"]["PORT_OUTBOX_TABLE"] == {"Ref": "PortOutboxTable"}
    assert OUTBOX_WRITES in properties["Policies"]


def test_no_function_has_wildcard_access_to_secrets_tables_or_queues(resources: dict[str, Any]) -> None:
    for logical_id, properties in functions_of(resources).items():
        assert "Role" not in properties, f"{logical_id}: an external role is not checked here"
        assert least_privilege_violations(properties.get("Policies"), resources) == [], logical_id


def test_functions_read_only_their_own_secret(resources: dict[str, Any]) -> None:
    def secrets_of(logical_id: str) -> list[Any]:
        policies = resources[logical_id]["Properties"]["Policies"]
        found = [
            policy["AWSSecretsManagerGetSecretValuePolicy"]["SecretArn"]
            for policy in policies
            if isinstance(policy, dict) and "AWSSecretsManagerGetSecretValuePolicy" in policy
        ]
        return sorted(found, key=str)

    provider_secrets = [
        {"Ref": f"{name}Credentials"}
        for name in ("PagerDuty", "Opsgenie", "ServiceNow", "Jira", "IncidentIo", "FireHydrant")
    ]
    for source in Source:
        assert secrets_of(ingest_logical_id(source)) == [{"Ref": "WebhookSecrets"}]
    # Auto-trigger and the action worker may open or change an incident in any provider.
    every_provider = sorted([{"Ref": "PortCredentials"}, *provider_secrets], key=str)
    assert secrets_of("AlertProcessorFunction") == every_provider
    assert secrets_of("ActionWorkerFunction") == every_provider
    # A provider's webhook reads only Port's credentials and that provider's own secret.
    for name in ("PagerDuty", "Jira", "IncidentIo", "FireHydrant"):
        expected = sorted([{"Ref": "PortCredentials"}, {"Ref": f"{name}Credentials"}], key=str)
        assert secrets_of(f"ProviderWebhook{name}Function") == expected
    steps = ("Trigger", "Acknowledge", "Reassign", "AssociateServices", "Escalate", "AddNote", "Resolve", "FindExpert")
    for step in steps:
        assert secrets_of(f"Action{step}Function") == [{"Ref": "PortCredentials"}]
    # The stale expiry projects to Port; heartbeats only queue alerts (the processor projects them).
    assert secrets_of("ExpireAlertsFunction") == [{"Ref": "PortCredentials"}]
    assert secrets_of("HeartbeatsFunction") == []


@pytest.mark.parametrize(
    "policies",
    [
        [{"Statement": [{"Effect": "Allow", "Action": "dynamodb:PutItem", "Resource": "*"}]}],
        [{"Statement": {"Effect": "Allow", "Action": ["sqs:SendMessage"], "Resource": ["*"]}}],
        [{"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}],
        [{"AWSSecretsManagerGetSecretValuePolicy": {"SecretArn": "*"}}],
        [{"DynamoDBCrudPolicy": {"TableName": {"Ref": "SomeParameter"}}}],
        [{"AdministratorAccessPolicy": {}}],
        ["arn:aws:iam::aws:policy/AmazonDynamoDBFullAccess"],
        "SecretsManagerReadWrite",
    ],
)
def test_least_privilege_check_catches_wildcards(resources: dict[str, Any], policies: Any) -> None:
    assert least_privilege_violations(policies, resources)


def test_least_privilege_check_accepts_scoped_statements(resources: dict[str, Any]) -> None:
    policies = [
        {"Statement": [{"Effect": "Allow", "Action": "xray:PutTraceSegments", "Resource": "*"}]},
        {"Statement": [{"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": {"Ref": "AlertQueue"}}]},
        {"SQSSendMessagePolicy": {"QueueName": {"Fn::GetAtt": ["AlertQueue", "QueueName"]}}},
    ]
    assert least_privilege_violations(policies, resources) == []


def test_every_function_runs_python313_on_arm64(template: dict[str, Any], resources: dict[str, Any]) -> None:
    defaults = template["Globals"]["Function"]
    assert defaults["Runtime"] == RUNTIME
    assert defaults["Architectures"] == [ARCHITECTURE]
    assert defaults["Layers"] == [{"Ref": "CommonLayer"}]
    functions = functions_of(resources)
    assert functions
    for logical_id, properties in functions.items():
        assert properties.get("Runtime", RUNTIME) == RUNTIME, logical_id
        assert properties.get("Architectures", [ARCHITECTURE]) == [ARCHITECTURE], logical_id
        assert "ReservedConcurrentExecutions" not in properties, logical_id
        assert (ROOT / properties["CodeUri"] / "app.py").is_file(), logical_id


def test_layer_is_built_for_the_runtime(resources: dict[str, Any]) -> None:
    layer = resources["CommonLayer"]
    assert layer["Type"] == "AWS::Serverless::LayerVersion"
    assert layer["Properties"]["ContentUri"] == "layers/common/"
    assert layer["Properties"]["CompatibleRuntimes"] == [RUNTIME]
    assert layer["Properties"]["CompatibleArchitectures"] == [ARCHITECTURE]
    assert layer["Metadata"] == {"BuildMethod": "makefile", "BuildArchitecture": ARCHITECTURE}
    assert "build-CommonLayer:" in (ROOT / "layers" / "common" / "Makefile").read_text(encoding="utf-8")


def test_environments_use_only_intrinsics_the_local_stack_resolves(
    template: dict[str, Any], resources: dict[str, Any]
) -> None:
    known = set(resources) | set(template.get("Parameters", {})) | {"AWS::Region", "AWS::AccountId"}
    environments = [("Globals", template["Globals"]["Function"].get("Environment", {}))]
    environments += [(lid, props.get("Environment", {})) for lid, props in functions_of(resources).items()]
    for owner, environment in environments:
        for name, value in environment.get("Variables", {}).items():
            where = f"{owner}.{name}"
            if isinstance(value, dict):
                ((intrinsic, argument),) = value.items()
                assert intrinsic in ENV_INTRINSICS, where
                target = argument if intrinsic == "Ref" else argument[0]
                assert target in known, where
            else:
                assert isinstance(value, str | int), where


def test_processor_environment(resources: dict[str, Any]) -> None:
    variables = resources["AlertProcessorFunction"]["Properties"]["Environment"]["Variables"]
    assert variables["ALERTS_TABLE"] == {"Ref": "AlertsTable"}
    assert variables["PORT_ENTITIES_TABLE"] == {"Ref": "PortEntitiesTable"}
    assert variables["PORT_CREDENTIALS_SECRET_NAME"] == {"Ref": "PortCredentials"}
    assert variables["PORT_API_URL"] == {"Ref": "PortApiUrl"}


def test_port_api_url_is_one_of_ports_regions(template: dict[str, Any]) -> None:
    parameter = template["Parameters"]["PortApiUrl"]
    assert parameter["Default"] == "https://api.port.io"
    assert set(parameter["AllowedValues"]) == {"https://api.port.io", "https://api.us.port.io"}


def test_secrets_fail_closed(resources: dict[str, Any]) -> None:
    assert resources["WebhookSecrets"]["Properties"]["SecretString"] == "{}"
    assert "GenerateSecretString" not in resources["WebhookSecrets"]["Properties"]


@pytest.mark.parametrize(
    ("logical_id", "expression", "variables", "policies"),
    [
        (
            "ExpireAlertsFunction",
            "rate(15 minutes)",
            {"ALERTS_TABLE", "PORT_ENTITIES_TABLE", "PORT_API_URL", "PORT_CREDENTIALS_SECRET_NAME"},
            [
                {"DynamoDBCrudPolicy": {"TableName": {"Ref": "AlertsTable"}}},
                {"DynamoDBCrudPolicy": {"TableName": {"Ref": "PortEntitiesTable"}}},
                OUTBOX_WRITES,
                {"AWSSecretsManagerGetSecretValuePolicy": {"SecretArn": {"Ref": "PortCredentials"}}},
            ],
        ),
        (
            "PortOutboxFunction",
            "rate(1 minute)",
            {
                "PORT_OUTBOX_TABLE",
                "PORT_ENTITIES_TABLE",
                "INCIDENTS_TABLE",
                "PORT_API_URL",
                "PORT_CREDENTIALS_SECRET_NAME",
            },
            [
                {
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Action": [
                                "dynamodb:Scan",
                                "dynamodb:BatchGetItem",
                                "dynamodb:PutItem",
                                "dynamodb:DeleteItem",
                            ],
                            "Resource": {"Fn::GetAtt": ["PortOutboxTable", "Arn"]},
                        },
                        {
                            "Effect": "Allow",
                            "Action": "dynamodb:BatchWriteItem",
                            "Resource": {"Fn::GetAtt": ["PortEntitiesTable", "Arn"]},
                        },
                        {
                            "Effect": "Allow",
                            "Action": "dynamodb:UpdateItem",
                            "Resource": {"Fn::GetAtt": ["IncidentsTable", "Arn"]},
                        },
                    ]
                },
                {"AWSSecretsManagerGetSecretValuePolicy": {"SecretArn": {"Ref": "PortCredentials"}}},
            ],
        ),
        (
            "HeartbeatsFunction",
            "rate(1 minute)",
            {"ALERTS_TABLE", "ALERT_QUEUE_URL", "HEARTBEATS", "SERVICE_MAPPING"},
            [
                {"DynamoDBReadPolicy": {"TableName": {"Ref": "AlertsTable"}}},
                {"SQSSendMessagePolicy": {"QueueName": {"Fn::GetAtt": ["AlertQueue", "QueueName"]}}},
            ],
        ),
    ],
)
def test_housekeeping_schedules(
    resources: dict[str, Any], logical_id: str, expression: str, variables: set[str], policies: list[Any]
) -> None:
    properties = resources[logical_id]["Properties"]
    (event,) = properties["Events"].values()
    assert event["Type"] == "ScheduleV2"
    assert event["Properties"]["ScheduleExpression"] == expression
    assert variables <= set(properties["Environment"]["Variables"])
    assert properties["Policies"] == policies


def test_housekeeping_settings_are_parameters(template: dict[str, Any], resources: dict[str, Any]) -> None:
    parameters = template["Parameters"]
    assert parameters["AlertStaleAfterMinutes"]["Default"] == 1440
    assert parameters["Heartbeats"]["Default"] == ""
    expire = resources["ExpireAlertsFunction"]["Properties"]["Environment"]["Variables"]
    heartbeats = resources["HeartbeatsFunction"]["Properties"]["Environment"]["Variables"]
    assert expire["ALERT_STALE_AFTER_MINUTES"] == {"Ref": "AlertStaleAfterMinutes"}
    assert heartbeats["HEARTBEATS"] == {"Ref": "Heartbeats"}
    # The run's time reaches the function: a retried run is recognised (idempotent per minute).
    (event,) = resources["HeartbeatsFunction"]["Properties"]["Events"].values()
    assert '"scheduledTime": "<aws.scheduler.scheduled-time>"' in event["Properties"]["Input"]
