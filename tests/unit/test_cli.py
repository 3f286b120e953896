"""`python -m incident_core normalize SOURCE BODY_FILE [--headers FILE] [--secrets FILE]`.

Exit status: 0 done (the JSON list of normalized alerts on stdout, `[]` when none), 3 credentials refused,
4 malformed body, 2 usage; every refusal is exactly one line on stderr.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from incident_core.cli import EXIT_MALFORMED, EXIT_OK, EXIT_UNAUTHENTICATED, EXIT_USAGE, main
from incident_core.models import Source
from incident_core.normalizers import normalize
from tests.events import EVENTS, WEBHOOK_EVENTS, body_with, example_secrets, webhook_event, webhook_event_names

SECRETS_FILE = str(EVENTS / "webhook-secrets.example.json")
SAMPLES = [(source, name) for source in Source for name in webhook_event_names(source.value)]


def _files(source: str, name: str) -> tuple[str, str]:
    folder = WEBHOOK_EVENTS / source
    return str(folder / f"{name}.body.json"), str(folder / f"{name}.headers.json")


def _one_line(text: str) -> str:
    assert text.endswith("\n")
    assert text.count("\n") == 1, text
    line = text.strip()
    assert line
    return line


def test_exit_codes_are_the_contract() -> None:
    assert (EXIT_OK, EXIT_USAGE, EXIT_UNAUTHENTICATED, EXIT_MALFORMED) == (0, 2, 3, 4)


@pytest.mark.parametrize(("source", "name"), SAMPLES, ids=[f"{s.value}/{n}" for s, n in SAMPLES])
def test_normalize_prints_what_normalize_returns(source: Source, name: str, capsys: pytest.CaptureFixture[str]) -> None:
    body_file, headers_file = _files(source.value, name)

    code = main(["normalize", source.value, body_file, "--headers", headers_file, "--secrets", SECRETS_FILE])

    out, err = capsys.readouterr()
    assert code == EXIT_OK
    assert err == ""
    headers, body = webhook_event(source.value, name)
    expected = [alert.seed_fields() for alert in normalize(source, headers, body, example_secrets())]
    printed = json.loads(out)
    assert isinstance(printed, list)
    assert printed == json.loads(json.dumps(expected))


def test_a_request_without_alerts_prints_an_empty_list(capsys: pytest.CaptureFixture[str]) -> None:
    body_file, headers_file = _files("sentry", "installation-created")

    code = main(["normalize", "sentry", body_file, "--headers", headers_file, "--secrets", SECRETS_FILE])

    out, err = capsys.readouterr()
    assert code == EXIT_OK
    assert json.loads(out) == []
    assert err == ""


def test_the_printed_alerts_are_the_seed_fields(capsys: pytest.CaptureFixture[str]) -> None:
    body_file, headers_file = _files("prometheus", "firing")

    assert main(["normalize", "prometheus", body_file, "--headers", headers_file]) == EXIT_OK

    printed = json.loads(capsys.readouterr().out)
    assert [a["externalId"] for a in printed] == ["3f1c9a7e5b2d4c60", "a81e22c07d9e1b34"]
    assert set(printed[0]) == {
        "title",
        "description",
        "severity",
        "status",
        "source",
        "externalId",
        "startedAt",
        "endedAt",
        "rawPayload",
    }
    assert printed[0]["status"] == "open"
    assert printed[0]["source"] == "prometheus"


@pytest.mark.parametrize(("source", "name"), [("grafana", "firing"), ("sentry", "issue-created")])
def test_a_tampered_signed_body_is_refused_with_exit_3(
    source: str, name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, headers_file = _files(source, name)
    _, body = webhook_event(source, name)
    tampered = tmp_path / "body.json"
    tampered.write_bytes(body.replace(b"checkout", b"checkoux", 1))
    assert tampered.read_bytes() != body

    code = main(["normalize", source, str(tampered), "--headers", headers_file, "--secrets", SECRETS_FILE])

    out, err = capsys.readouterr()
    assert code == EXIT_UNAUTHENTICATED
    assert out == ""
    assert _one_line(err).startswith("credentials refused")


def test_a_wrong_token_is_refused_with_exit_3(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    body_file, _ = _files("prometheus", "firing")
    headers = tmp_path / "headers.json"
    headers.write_text(json.dumps({"Authorization": "Bearer not-the-token"}))

    code = main(["normalize", "prometheus", body_file, "--headers", str(headers), "--secrets", SECRETS_FILE])

    out, err = capsys.readouterr()
    assert code == EXIT_UNAUTHENTICATED
    assert out == ""
    _one_line(err)


def test_missing_credentials_are_refused_with_exit_3(capsys: pytest.CaptureFixture[str]) -> None:
    body_file, _ = _files("datadog", "triggered")

    assert main(["normalize", "datadog", body_file, "--secrets", SECRETS_FILE]) == EXIT_UNAUTHENTICATED
    _one_line(capsys.readouterr().err)


def test_without_secrets_credentials_are_not_checked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, headers_file = _files("grafana", "firing")
    _, body = webhook_event("grafana", "firing")
    tampered = tmp_path / "body.json"
    tampered.write_bytes(body.replace(b"checkout", b"checkoux", 1))

    code = main(["normalize", "grafana", str(tampered), "--headers", headers_file])

    out, err = capsys.readouterr()
    assert code == EXIT_OK
    assert err == ""
    assert len(json.loads(out)) == 4
    # Not even headers are needed.
    body_file, _ = _files("datadog", "triggered")
    assert main(["normalize", "datadog", body_file]) == EXIT_OK
    assert len(json.loads(capsys.readouterr().out)) == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"not json", "body"),
        (b"[1, 2]", "body"),
        (b'{"alerts": "x"}', "alerts"),
        (b'{"alerts": [{"status": "firing", "labels": {}}]}', "alerts[0].fingerprint"),
        (b'{"alerts": [{"status": "firing", "fingerprint": "ab", "startsAt": "yesterday"}]}', "alerts[0].startsAt"),
    ],
)
def test_a_malformed_body_exits_4_naming_the_field(
    body: bytes, field: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Authenticated with the sample's token, so the refusal is about the body.
    _, headers_file = _files("prometheus", "firing")
    body_file = tmp_path / "body.json"
    body_file.write_bytes(body)

    code = main(["normalize", "prometheus", str(body_file), "--headers", headers_file, "--secrets", SECRETS_FILE])

    out, err = capsys.readouterr()
    assert code == EXIT_MALFORMED
    assert out == ""
    line = _one_line(err)
    assert line.startswith("malformed body")
    assert f"{field}:" in line


@pytest.mark.parametrize(
    ("changes", "field"),
    [({"alert_id": None, "id": None}, "alert_id"), ({"date": "soon"}, "date")],
)
def test_a_malformed_sample_field_is_named(
    changes: dict[str, str | None], field: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, body = webhook_event("datadog", "triggered")
    body_file = tmp_path / "body.json"
    body_file.write_bytes(body_with(body, **changes))

    assert main(["normalize", "datadog", str(body_file)]) == EXIT_MALFORMED
    line = _one_line(capsys.readouterr().err)
    assert line.startswith(f"malformed body: {field}:")


def test_an_unknown_source_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    body_file, _ = _files("prometheus", "firing")

    with pytest.raises(SystemExit) as exit_info:
        main(["normalize", "splunk", body_file])

    assert exit_info.value.code == EXIT_USAGE
    out, err = capsys.readouterr()
    assert out == ""
    assert "splunk" in err


def test_missing_arguments_are_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["normalize", "prometheus"])
    assert exit_info.value.code == EXIT_USAGE
    assert capsys.readouterr().out == ""


def test_a_missing_body_file_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope.json"

    code = main(["normalize", "prometheus", str(missing)])

    out, err = capsys.readouterr()
    assert code == EXIT_USAGE
    assert out == ""
    assert str(missing) in _one_line(err)


@pytest.mark.parametrize("which", ["--headers", "--secrets"])
def test_an_unreadable_headers_or_secrets_file_is_a_usage_error(
    which: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    body_file, _ = _files("prometheus", "firing")
    broken = tmp_path / "broken.json"
    broken.write_text("{not json\n\n")

    code = main(["normalize", "prometheus", body_file, which, str(broken)])

    out, err = capsys.readouterr()
    assert code == EXIT_USAGE
    assert out == ""
    assert str(broken) in _one_line(err)
