"""Read template.yaml as the local stack needs it: CloudFormation short tags, functions, routes, env.

Only the intrinsics the template uses in function environments are resolved (`Ref`, `Fn::GetAtt`);
a test keeps the template to that.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent
TEMPLATE_PATH = REPO / "template.yaml"


class CloudFormationLoader(yaml.SafeLoader):
    """SafeLoader plus the CloudFormation short-form intrinsics, expanded to their long form."""


def _construct_intrinsic(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = tag_suffix if tag_suffix in {"Ref", "Condition"} else f"Fn::{tag_suffix}"
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if tag_suffix == "GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {name: value}


CloudFormationLoader.add_multi_constructor("!", _construct_intrinsic)


def parse_yaml(text: str) -> Any:
    return yaml.load(text, Loader=CloudFormationLoader)  # noqa: S506 - a SafeLoader subclass


def load_template(path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    document = parse_yaml(path.read_text(encoding="utf-8"))
    if not isinstance(document, dict):
        raise ValueError(f"{path} is not a CloudFormation template")
    return document


_RATE = re.compile(r"^rate\((?P<value>\d+) (?P<unit>minute|minutes|hour|hours|day|days)\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}


def rate_seconds(expression: str) -> int | None:
    """Seconds between the runs of `rate(<value> <unit>)`; None for `cron(...)` and `at(...)`.

    As EventBridge Scheduler does, the unit is singular for 1 (`rate(1 minute)`) and plural otherwise.
    """
    if expression.startswith(("cron(", "at(")):
        return None
    match = _RATE.match(expression)
    if match is None:
        raise ValueError(f"not a schedule expression: {expression!r}")
    value, unit = int(match["value"]), match["unit"]
    if value < 1 or (value == 1) != (not unit.endswith("s")):
        raise ValueError(f"not a schedule expression: {expression!r} (write rate(1 minute), rate(5 minutes))")
    return value * _UNIT_SECONDS[unit.removesuffix("s")]


@dataclass(frozen=True)
class ScheduleSpec:
    """One `ScheduleV2` event of a function."""

    name: str
    expression: str
    period_seconds: int | None
    """Of a `rate(...)` expression; None for cron and one-time schedules (the local stack does not run them)."""
    input: str | None
    """The JSON text Scheduler passes, with its `<aws.scheduler.*>` keywords; None passes `{}`."""


@dataclass(frozen=True)
class FunctionSpec:
    logical_id: str
    code_dir: Path
    handler: str
    environment: dict[str, Any]
    routes: tuple[tuple[str, str], ...]
    """(METHOD, path) of its HttpApi events."""
    queue_sources: tuple[str, ...]
    """Logical ids of the SQS queues that trigger it."""
    schedules: tuple[ScheduleSpec, ...] = ()
    """Its EventBridge Scheduler (`ScheduleV2`) events."""


def functions(template: dict[str, Any]) -> list[FunctionSpec]:
    globals_env = template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
    specs = []
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        props = resource["Properties"]
        events = (props.get("Events") or {}).values()
        specs.append(
            FunctionSpec(
                logical_id=logical_id,
                code_dir=REPO / props["CodeUri"],
                handler=props.get("Handler", "app.handler"),
                environment={**globals_env, **props.get("Environment", {}).get("Variables", {})},
                routes=tuple(
                    (e["Properties"]["Method"].upper(), e["Properties"]["Path"])
                    for e in events
                    if e["Type"] == "HttpApi"
                ),
                queue_sources=tuple(e["Properties"]["Queue"]["Fn::GetAtt"][0] for e in events if e["Type"] == "SQS"),
                schedules=tuple(
                    ScheduleSpec(
                        name=name,
                        expression=e["Properties"]["ScheduleExpression"],
                        period_seconds=rate_seconds(e["Properties"]["ScheduleExpression"]),
                        input=e["Properties"].get("Input"),
                    )
                    for name, e in (props.get("Events") or {}).items()
                    if e["Type"] == "ScheduleV2"
                ),
            )
        )
    return specs


def resolve(value: Any, references: dict[str, str], attributes: dict[tuple[str, str], str]) -> str:
    """A function environment value: a plain string, `Ref` or `Fn::GetAtt` of a known resource."""
    if isinstance(value, dict) and "Ref" in value:
        return references[value["Ref"]]
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        logical_id, attribute = value["Fn::GetAtt"]
        return attributes[(logical_id, attribute)]
    if isinstance(value, dict):
        raise ValueError(f"the local stack cannot resolve {value}")
    return str(value)
