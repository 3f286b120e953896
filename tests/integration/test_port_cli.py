"""`port plan|apply` provisions port/ into Port idempotently (against the validating fake)."""

from __future__ import annotations

import httpx
import pytest

from incident_core import cli
from incident_core.port.client import PortClient
from tests.fakes.port import FakePort

SERVICE = {"identifier": "microservice", "title": "Microservice", "schema": {"properties": {}, "required": []}}


@pytest.fixture
def port(monkeypatch: pytest.MonkeyPatch) -> FakePort:
    fake = FakePort(blueprints=[SERVICE])
    monkeypatch.setattr(
        cli,
        "_port_client_from_environment",
        lambda: PortClient(
            "https://api.port.example",
            fake.client_id,
            fake.client_secret,
            http=httpx.Client(transport=fake.transport()),
        ),
    )
    return fake


def test_apply_creates_the_blueprints_then_plan_shows_nothing_to_do(
    port: FakePort, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["port", "plan", "--service-blueprint", "microservice"]) == 0
    assert "2 to create" in capsys.readouterr().out
    assert "alert" not in port.blueprints  # plan writes nothing

    assert cli.main(["port", "apply", "--service-blueprint", "microservice"]) == 0
    assert "applied 2 change(s)" in capsys.readouterr().out
    assert port.blueprints["alert"]["relations"]["service"]["target"] == "microservice"
    assert port.blueprints["alert"]["schema"]["required"] == [
        "title",
        "severity",
        "status",
        "source",
        "externalId",
        "startedAt",
    ]

    assert cli.main(["port", "plan", "--service-blueprint", "microservice"]) == 0
    assert "0 to create, 0 to update, 2 unchanged" in capsys.readouterr().out
    assert port.violations == []


def test_a_missing_service_blueprint_is_one_clear_line_and_nothing_is_written(
    port: FakePort, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["port", "apply", "--service-blueprint", "service"]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1
    assert "refers to" in error
    assert "alert" not in port.blueprints
