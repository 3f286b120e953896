"""Step Functions for the local stack: moto's own ASL engine runs template.yaml's state machines.

moto executes a state machine once its `execute_state_machine` setting is on; a Task's Lambda call reaches the
embedded AWS as Lambda's Invoke, and `LambdaInvokeBridge` answers it with the local function (the real handler,
in this process) instead of moto's Lambda, which would need Docker. This module also reads the definitions as
CloudFormation would: the file named by `DefinitionUri` with its `DefinitionSubstitutions` applied.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote

import yaml

from devstack.template import REPO
from devstack.template import resolve as resolve_template_value

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"
LOCAL_ROLE_ARN = f"arn:aws:iam::{ACCOUNT_ID}:role/devstack-stepfunctions"

_LAMBDA_ARN = re.compile(r"^arn:aws[a-z-]*:lambda:[a-z0-9-]+:\d{12}:function:([A-Za-z0-9_-]+)(?::[A-Za-z0-9_$-]+)?$")
_INVOKE_PATH = re.compile(r"^/2015-03-31/functions/([^/]+)/invocations$")
_TOKEN = re.compile(r"\$\{([^}]*)\}")

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class DefinitionError(ValueError):
    """A state machine definition cannot be read, or names a substitution the template does not give."""


class Invocable(Protocol):
    def invoke(self, event: dict[str, Any]) -> dict[str, Any]: ...


def load_definition(source: Path | dict[str, Any], substitutions: Mapping[str, str]) -> dict[str, Any]:
    """Read a definition (JSON, or YAML by suffix) and replace its `${Name}` tokens, as CloudFormation does.

    A token without a substitution is an error here rather than a surprise during an execution."""
    text = source.read_text(encoding="utf-8") if isinstance(source, Path) else json.dumps(source)
    missing = sorted({token for token in _TOKEN.findall(text) if token not in substitutions})
    if missing:
        raise DefinitionError(f"{source}: no DefinitionSubstitutions for {', '.join(missing)}")
    text = _TOKEN.sub(lambda match: substitutions[match.group(1)], text)
    if isinstance(source, Path) and source.suffix in {".yaml", ".yml"}:
        document = yaml.safe_load(text)
    else:
        document = json.loads(text)
    if not isinstance(document, dict):
        raise DefinitionError(f"{source}: a state machine definition is a JSON object")
    return document


def local_function_arn(logical_id: str) -> str:
    return f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{logical_id}"


def function_name(identifier: str) -> str:
    """A Lambda ARN (with or without qualifier) -> its function name; a plain name stays as it is."""
    match = _LAMBDA_ARN.match(identifier)
    return match.group(1) if match else identifier


def substitution_resolver(
    template: dict[str, Any], references: Mapping[str, str], attributes: Mapping[tuple[str, str], str]
) -> Callable[[Any], str]:
    """Resolve DefinitionSubstitutions values: a function's `GetAtt X.Arn` is its local ARN (`local_function_arn`)
    and `Ref X` its name (the logical id); anything else goes through devstack.template.resolve."""
    functions = {
        key for key, resource in template["Resources"].items() if resource["Type"] == "AWS::Serverless::Function"
    }

    def resolve(value: Any) -> str:
        if isinstance(value, dict) and "Fn::GetAtt" in value:
            logical_id, attribute = value["Fn::GetAtt"]
            if logical_id in functions and attribute == "Arn":
                return local_function_arn(logical_id)
        if isinstance(value, dict) and value.get("Ref") in functions:
            return str(value["Ref"])
        return resolve_template_value(value, dict(references), dict(attributes))

    return resolve


def state_machine_definitions(
    template: dict[str, Any], resolve: Callable[[Any], str], base_dir: Path = REPO
) -> dict[str, dict[str, Any]]:
    """Each AWS::Serverless::StateMachine's definition with its substitutions applied."""
    definitions = {}
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] != "AWS::Serverless::StateMachine":
            continue
        props = resource.get("Properties", {})
        substitutions = {name: resolve(value) for name, value in (props.get("DefinitionSubstitutions") or {}).items()}
        if isinstance(props.get("DefinitionUri"), str):
            source: Path | dict[str, Any] = base_dir / props["DefinitionUri"]
        elif isinstance(props.get("Definition"), dict):
            source = props["Definition"]
        else:
            raise DefinitionError(f"{logical_id}: needs a local DefinitionUri file or an inline Definition")
        definitions[logical_id] = load_definition(source, substitutions)
    return definitions


def provision_state_machines(
    template: dict[str, Any], sfn_client: Any, resolve: Callable[[Any], str], base_dir: Path = REPO
) -> dict[str, str]:
    """Create the template's state machines in moto (named after their logical id); returns logical id -> ARN.

    With execution on, moto parses each definition here and refuses one its engine cannot run."""
    arns = {}
    for logical_id, definition in state_machine_definitions(template, resolve, base_dir).items():
        answer = sfn_client.create_state_machine(
            name=logical_id, definition=json.dumps(definition), roleArn=LOCAL_ROLE_ARN, type="STANDARD"
        )
        arns[logical_id] = answer["stateMachineArn"]
    return arns


class LambdaInvokeBridge:
    """WSGI in front of moto: Lambda's Invoke runs the local function; every other request goes to moto.

    A handler's exception is answered as Lambda answers an unhandled error (the `X-Amz-Function-Error` header
    and `{"errorType", "errorMessage"}`), so the state machine's Retry and Catch match the exception's class name.
    """

    def __init__(self, moto: WsgiApp) -> None:
        self._moto = moto
        self.functions: Mapping[str, Invocable] = {}

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        match = _INVOKE_PATH.match(environ.get("PATH_INFO", ""))
        if environ.get("REQUEST_METHOD") != "POST" or match is None:
            return self._moto(environ, start_response)
        name = function_name(unquote(match.group(1)))
        function = self.functions.get(name)
        headers = [("Content-Type", "application/json")]
        if function is None:
            status = "404 Not Found"
            headers.append(("X-Amzn-ErrorType", "ResourceNotFoundException"))
            answer: Any = {"Type": "User", "message": f"Function not found: {name}"}
        else:
            status = "200 OK"
            body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
            try:
                answer = function.invoke(json.loads(body or b"{}"))
            except Exception as exc:  # what Lambda does with an uncaught exception: report it to the caller
                headers.append(("X-Amz-Function-Error", "Unhandled"))
                answer = {"errorType": type(exc).__name__, "errorMessage": str(exc)}
        payload = json.dumps(answer).encode()
        start_response(status, [*headers, ("Content-Length", str(len(payload)))])
        return [payload]
