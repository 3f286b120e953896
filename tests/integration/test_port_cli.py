"""`port plan|apply` provisions port/ into Port idempotently (against the validating fake)."""

from __future__ import annotations

import httpx
import pytest

from incident_core import cli
from incident_core.port.client import PortClient
from incident_core.port.resources import load_resources
from tests.fakes.port import REPO_ROOT, FakePort

SERVICE = {"identifier": "microservice", "title": "Microservice", "schema": {"properties": {}, "required": []}}
API_URL = "https://abc123.execute-api.eu-west-1.amazonaws.com"
RESOURCES = len(load_resources(REPO_ROOT / "port", api_url=API_URL))  # blueprints, actions, the dashboard


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
    target = ["--service-blueprint", "microservice", "--api-url", API_URL]
    assert cli.main(["port", "plan", *target]) == 0
    assert f"{RESOURCES} to create" in capsys.readouterr().out
    assert "alert" not in port.blueprints  # plan writes nothing

    assert cli.main(["port", "apply", *target]) == 0
    assert f"applied {RESOURCES} change(s)" in capsys.readouterr().out
    assert port.blueprints["alert"]["relations"]["service"]["target"] == "microservice"
    assert port.blueprints["alert"]["schema"]["required"] == [
        "title",
        "severity",
        "status",
        "source",
        "externalId",
        "startedAt",
    ]

    assert cli.main(["port", "plan", *target]) == 0
    assert f"0 to create, 0 to update, {RESOURCES} unchanged" in capsys.readouterr().out
    assert port.violations == []


def test_a_missing_service_blueprint_is_one_clear_line_and_nothing_is_written(
    port: FakePort, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["port", "apply", "--service-blueprint", "service", "--api-url", API_URL]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1
    assert "refers to" in error
    assert "alert" not in port.blueprints


def test_the_actions_call_the_api_url_from_the_environment(
    port: FakePort, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("INCIDENT_LIFECYCLE_API_URL", API_URL)
    assert cli.main(["port", "apply", "--service-blueprint", "microservice"]) == 0
    assert f"applied {RESOURCES} change(s)" in capsys.readouterr().out
    actions = port.actions.values()
    assert {action["invocationMethod"]["url"].rsplit("/actions/", 1)[0] for action in actions} == {API_URL}
    assert port.actions["incident_acknowledge"]["trigger"]["condition"]["rules"][0]["value"] == "triggered"
    assert "incident_lifecycle_dashboard" in port.pages
    assert port.violations == []


def test_without_an_api_url_nothing_is_written_and_the_error_says_how(
    port: FakePort, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("INCIDENT_LIFECYCLE_API_URL", raising=False)
    assert cli.main(["port", "apply", "--service-blueprint", "microservice"]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1
    assert "--api-url" in error
    assert port.requests == []


def test_plan_shows_a_change_that_would_break_a_users_blueprint_and_apply_refuses_it(
    port: FakePort, capsys: pytest.CaptureFixture[str]
) -> None:
    users = {"identifier": "incident", "title": "Incident", "schema": {"properties": {"status": {"type": "number"}}}}
    port.add_blueprint(users)
    target = ["--service-blueprint", "microservice", "--api-url", API_URL]

    assert cli.main(["port", "plan", *target]) == 2
    shown = capsys.readouterr().out
    assert "BREAKING: property status is type 'number' in Port, 'string' in port/" in shown
    assert cli.main(["port", "apply", *target]) == 2
    assert "Nothing was changed" in capsys.readouterr().err
    assert "alert" not in port.blueprints
    assert port.blueprints["incident"]["schema"] == users["schema"]

    assert cli.main(["port", "apply", *target, "--incident-blueprint", "lifecycleIncident"]) == 0
    assert port.blueprints["lifecycleIncident"]["schema"]["properties"]["status"]["type"] == "string"
    assert port.violations == []
