"""Creates, on a local AWS (moto), the EventBridge bus the audit function
puts its records on, a rule with docs/audit.md's pattern (lockouts and key
removals) and an SQS queue as its target; prints the queue URL, which the
e2e suite reads to see what a SIEM subscribed with that pattern receives.

  audit_bus.py ENDPOINT BUS_NAME
"""

from __future__ import annotations

import json
import sys

import boto3

# The pattern docs/audit.md shows: keep the two in step.
PATTERN = {
    "source": ["totp-lambda.audit"],
    "detail-type": ["LoginExceedMaxAttempts", "TOTPKeyRemoved"],
}


def main() -> None:
    endpoint, bus = sys.argv[1:3]
    creds = {"region_name": "us-east-1", "aws_access_key_id": "local", "aws_secret_access_key": "local"}
    events = boto3.client("events", endpoint_url=endpoint, **creds)
    sqs = boto3.client("sqs", endpoint_url=endpoint, **creds)
    events.create_event_bus(Name=bus)
    queue_url = sqs.create_queue(QueueName=f"{bus}-siem")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="lockouts-and-key-removals", EventBusName=bus, EventPattern=json.dumps(PATTERN))
    events.put_targets(
        Rule="lockouts-and-key-removals", EventBusName=bus, Targets=[{"Id": "siem", "Arn": queue_arn}]
    )
    print(queue_url)


if __name__ == "__main__":
    main()
