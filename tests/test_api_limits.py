"""`validate` refuses offline what the API would refuse, and the sandbox refuses the same."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from beeplan.errors import ApiError
from beeplan.platforms.v2.client import BeeboleClient
from beeplan.platforms.v2.sandbox.server import SandboxServer

from .conftest import Run

LONG = "x" * 256
BAD = f"""\
companies:
  - xid: acme
    name: "   "
    projects:
      - xid: "web\\nsite"
        name: {LONG}
        description: {"d" * 10_001}
      - xid: "  "
        name: Fine
people:
  - xid: rosa
    name: Rosa
    company: acme
    invite: true
  - xid: {"p" * 256}
    name: Long xid
    company: acme
  - xid: jane
    name: Jane
    company: acme
    email: jane@acme@example.com
    customFields: {{location: {"l" * 10_001}}}
"""


def test_every_limit_is_reported_at_once_with_no_api_call(
    tmp_path: Path, run: Run, sandbox: SandboxServer
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(BAD)
    expected = [
        (3, "companies[0].name: a name cannot be blank"),
        (5, "companies[0].projects[0].xid: an xid cannot contain control characters: '\\n'"),
        (6, "companies[0].projects[0].name: a name is too long: 256 characters, at most 255"),
        (7, "companies[0].projects[0].description: 'description' is too long: 10,001 "
            "characters, at most 10,000"),
        (8, "companies[0].projects[1].xid: an xid cannot be blank"),
        (14, "people[0].invite: invite: true needs an email"),
        (15, "people[1].xid: an xid is too long: 256 characters, at most 255"),
        (21, "people[2].email: 'jane@acme@example.com' is not an email address"),
        (22, "people[2].customFields.location: 'location' is too long: 10,001 characters"),
    ]
    sandbox.reset_calls()
    for command in ("validate", "plan"):
        status, out, err = run(command, path)
        assert status == 1 and out == "" and "Traceback" not in err
        assert f"Error: {len(expected)} errors in the manifests:" in err
        for line, message in expected:
            assert f"  {path}:{line}: {message}" in err, err
    assert sum(sandbox.calls.values()) == 0


@pytest.mark.parametrize(
    ("service", "body", "refusal"),
    [
        ("company.create", {"company": {"name": "   "}}, "must not be empty"),
        ("company.create", {"company": {"name": LONG}}, "at most 255"),
        ("company.create", {"company": {"name": "Acme", "xid": "a\nb"}}, "control characters"),
        ("company.create", {"company": {"name": "Acme", "xid": "  "}}, "must not be empty"),
        ("company.create", {"company": {"name": "Acme", "xid": "p" * 256}}, "at most 255"),
        ("project.create", {"project": {"name": "P", "company": {"xid": "acme"},
                                        "description": "d" * 10_001}}, "at most 10000"),
        ("person.create", {"person": {"name": "Rosa", "company": {"xid": "acme"},
                                      "invite": True}}, "needs"),
        ("person.create", {"person": {"name": "Rosa", "company": {"xid": "acme"},
                                      "email": "rosa@acme@example.com"}}, "not an email"),
        ("company.set_custom_field_value", {"xid": "acme", "customField": {
            "id": 7206, "value": "v" * 10_001}}, "at most 10000"),
    ],
)
def test_the_sandbox_refuses_the_same(
    client: BeeboleClient, service: str, body: dict[str, Any], refusal: str
) -> None:
    client.call("company.create", company={"xid": "acme", "name": "Acme"})
    with pytest.raises(ApiError) as refused:
        client.call(service, **body)
    assert refusal in refused.value.api_message
