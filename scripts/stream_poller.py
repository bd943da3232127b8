"""A local event source mapping: reads the users table's stream on DynamoDB
Local and invokes the audit function (served by `cargo lambda watch`) with
batches, as Lambda does in AWS (template.yaml's DynamoDB event): in order,
retrying from the first record the function reports failed, and after
MAX_RETRIES handing the batch to the "failure destination" (a line on
stderr here) so one poison record never blocks the shard.

  stream_poller.py ENDPOINT TABLE INVOKE_URL

Runs until killed. make dev and make test start it beside the functions.
"""

from __future__ import annotations

import base64
import json
import sys
import time
import urllib.request

import boto3

BATCH = 100
MAX_RETRIES = 3
# As the template's MaximumBatchingWindowInSeconds: gather a second's records
# into one invocation, so the audit function does not compete with every request.
WINDOW_SECONDS = 1.0


def attribute(value: dict) -> dict:
    """One attribute as Lambda's DynamoDB event writes it (binary as base64)."""
    (kind, inner), = value.items()
    if kind == "B":
        return {"B": base64.b64encode(inner).decode()}
    if kind == "BS":
        return {"BS": [base64.b64encode(b).decode() for b in inner]}
    if kind == "M":
        return {"M": {k: attribute(v) for k, v in inner.items()}}
    if kind == "L":
        return {"L": [attribute(v) for v in inner]}
    return {kind: inner}


def lambda_record(record: dict) -> dict:
    data = record["dynamodb"]
    out = {
        "SequenceNumber": data["SequenceNumber"],
        "ApproximateCreationDateTime": data["ApproximateCreationDateTime"].timestamp(),
        "Keys": {k: attribute(v) for k, v in data["Keys"].items()},
    }
    for image in ("NewImage", "OldImage"):
        if image in data:
            out[image] = {k: attribute(v) for k, v in data[image].items()}
    event = {"eventName": record["eventName"], "eventSource": "aws:dynamodb", "dynamodb": out}
    if "userIdentity" in record:
        event["userIdentity"] = {
            "type": record["userIdentity"].get("Type"),
            "principalId": record["userIdentity"].get("PrincipalId"),
        }
    return event


def invoke(url: str, records: list[dict]) -> list[str]:
    """The sequence numbers the function reports failed."""
    body = json.dumps({"Records": records}).encode()
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=120) as response:
        answer = json.loads(response.read() or b"{}")
    return [f["itemIdentifier"] for f in answer.get("batchItemFailures", [])]


def deliver(url: str, records: list[dict]) -> None:
    """As Lambda: retry from the first failed record, then give up on the batch."""
    pending = records
    for attempt in range(MAX_RETRIES + 1):
        try:
            failed = invoke(url, pending)
        except OSError as error:  # the function is still compiling, or restarting
            print(f"stream_poller: invoke failed ({error}); retrying", file=sys.stderr, flush=True)
            time.sleep(1 + attempt)
            continue
        if not failed:
            return
        index = next((i for i, r in enumerate(pending) if r["dynamodb"]["SequenceNumber"] == failed[0]), 0)
        pending = pending[index:]
        time.sleep(0.2 * (attempt + 1))
    first = pending[0]["dynamodb"]["SequenceNumber"] if pending else "?"
    print(
        f"stream_poller: {len(pending)} record(s) from sequence {first} failed {MAX_RETRIES + 1} times: "
        "sent to the failure destination (this line)",
        file=sys.stderr,
        flush=True,
    )


def main() -> None:
    endpoint, table, url = sys.argv[1:4]
    creds = {"region_name": "us-east-1", "aws_access_key_id": "local", "aws_secret_access_key": "local"}
    dynamodb = boto3.client("dynamodb", endpoint_url=endpoint, **creds)
    streams = boto3.client("dynamodbstreams", endpoint_url=endpoint, **creds)
    arn = dynamodb.describe_table(TableName=table)["Table"]["LatestStreamArn"]
    iterators: dict[str, str | None] = {}
    while True:
        shards = streams.describe_stream(StreamArn=arn)["StreamDescription"].get("Shards", [])
        for shard in shards:
            shard_id = shard["ShardId"]
            if shard_id not in iterators:
                iterators[shard_id] = streams.get_shard_iterator(
                    StreamArn=arn, ShardId=shard_id, ShardIteratorType="TRIM_HORIZON"
                )["ShardIterator"]
        for shard_id, iterator in list(iterators.items()):
            if iterator is None:
                continue
            page = streams.get_records(ShardIterator=iterator, Limit=BATCH)
            records = [lambda_record(r) for r in page.get("Records", [])]
            if records:
                deliver(url, records)
            iterators[shard_id] = page.get("NextShardIterator")
        time.sleep(WINDOW_SECONDS)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        pass
