"""checkov over template.yaml, as `make test` runs it: no failed check, and
every skip carries its reason in the template. A copy of the template with a
new public bucket and an unencrypted log group must fail, so that the step
catches a new unexplained finding."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from conftest import ROOT

CHECKOV = ROOT / ".tools" / "checkov" / "bin" / "checkov"


def scan(path: Path) -> tuple[int, dict]:
    result = subprocess.run(
        [str(CHECKOV), "-f", str(path), "--framework", "cloudformation", "--skip-download", "-o", "json"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    report = json.loads(result.stdout)
    return result.returncode, report["results"]


def test_the_template_has_no_failed_check_and_each_skip_a_reason() -> None:
    code, results = scan(ROOT / "template.yaml")
    failed = [(c["check_id"], c["resource"]) for c in results["failed_checks"]]
    assert (code, failed) == (0, []), failed
    assert results["passed_checks"], "checkov read no resource"
    for check in results["skipped_checks"]:
        reason = check["check_result"].get("suppress_comment", "")
        assert len(reason) > 40, (check["check_id"], check["resource"], reason)


def test_a_new_unexplained_finding_fails_the_step(tmp_path: Path) -> None:
    text = (ROOT / "template.yaml").read_text()
    extra = """
  PublicBucket:
    Type: AWS::S3::Bucket
    Properties:
      PublicAccessBlockConfiguration:
        BlockPublicAcls: false
        BlockPublicPolicy: false
        IgnorePublicAcls: false
        RestrictPublicBuckets: false

  PlainLogGroup:
    Type: AWS::Logs::LogGroup
    Properties:
      RetentionInDays: 30
"""
    copy = tmp_path / "template.yaml"
    copy.write_text(text.replace("\nOutputs:\n", extra + "\nOutputs:\n", 1))
    code, results = scan(copy)
    assert code != 0
    failed = {(c["check_id"], c["resource"]) for c in results["failed_checks"]}
    assert ("CKV_AWS_158", "AWS::Logs::LogGroup.PlainLogGroup") in failed, failed
    assert any(resource == "AWS::S3::Bucket.PublicBucket" for _, resource in failed), failed
    # Only the new resources fail.
    assert {resource for _, resource in failed} == {"AWS::S3::Bucket.PublicBucket", "AWS::Logs::LogGroup.PlainLogGroup"}
