"""Run the template's real handlers in this process, each with its own environment.

Lambda gives every function its own environment; here they share one process, so an invocation swaps
the function's variables in under a lock and restores them after. Local traffic is light: serializing
invocations costs nothing that matters and keeps each handler's view exactly as deployed.
"""

from __future__ import annotations

import importlib.util
import os
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from devstack.stack import LocalResources
from devstack.template import FunctionSpec, resolve

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


@dataclass(frozen=True)
class LambdaContext:
    """The attributes Powertools reads from Lambda's context object."""

    function_name: str
    aws_request_id: str
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:local"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


class LocalFunction:
    def __init__(self, spec: FunctionSpec, environment: dict[str, str], lock: threading.Lock) -> None:
        self.spec = spec
        self.environment = environment
        self._lock = lock
        self._handler: Handler | None = None

    def _load(self) -> Handler:
        module_name, _, attribute = self.spec.handler.rpartition(".")
        path = self.spec.code_dir / f"{module_name}.py"
        spec = importlib.util.spec_from_file_location(f"devstack_functions.{self.spec.logical_id}", path)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot load {path}")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        handler: Handler = getattr(module, attribute)
        return handler

    def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        with self._lock, _environment(self.environment):
            if self._handler is None:
                self._handler = self._load()
            context = LambdaContext(function_name=self.spec.logical_id, aws_request_id=str(uuid.uuid4()))
            return self._handler(event, context)


@contextmanager
def _environment(variables: dict[str, str]) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def local_functions(
    specs: list[FunctionSpec], resources: LocalResources, base_environment: dict[str, str]
) -> dict[str, LocalFunction]:
    lock = threading.Lock()
    built = {}
    for spec in specs:
        environment = {
            **base_environment,
            **{
                name: resolve(value, resources.references, resources.attributes)
                for name, value in spec.environment.items()
            },
        }
        built[spec.logical_id] = LocalFunction(spec, environment, lock)
    return built
