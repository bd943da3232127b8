//! The audit trail against DynamoDB Local: real stream records of the
//! users table, read as Lambda reads them, through the audit function's
//! entry point; then the audit search route.

use crate::common::*;
use lambda_http::http::Method;
use serde_json::{json, Map, Value};

/// A stream attribute value as Lambda's DynamoDB event writes it.
fn attribute_json(value: &aws_sdk_dynamodbstreams::types::AttributeValue) -> Value {
    use aws_sdk_dynamodbstreams::types::AttributeValue as A;
    use base64::Engine as _;
    match value {
        A::S(s) => json!({ "S": s }),
        A::N(n) => json!({ "N": n }),
        A::B(b) => json!({ "B": base64::engine::general_purpose::STANDARD.encode(b.as_ref()) }),
        A::Ss(list) => json!({ "SS": list }),
        A::Ns(list) => json!({ "NS": list }),
        A::Bool(b) => json!({ "BOOL": b }),
        A::Null(_) => json!({ "NULL": true }),
        A::M(map) => json!({ "M": image_json(map) }),
        A::L(list) => json!({ "L": list.iter().map(attribute_json).collect::<Vec<_>>() }),
        other => panic!("no JSON for {other:?}"),
    }
}

fn image_json(
    map: &std::collections::HashMap<String, aws_sdk_dynamodbstreams::types::AttributeValue>,
) -> Map<String, Value> {
    map.iter().map(|(k, v)| (k.clone(), attribute_json(v))).collect()
}

/// Every record of the table's stream so far, as Lambda's event records.
pub async fn stream_records(h: &Harness) -> Vec<Value> {
    let described = h.client.describe_table().table_name(&h.table).send().await.unwrap();
    let arn = described
        .table
        .unwrap()
        .latest_stream_arn
        .expect("the table has a stream");
    let streams = aws_sdk_dynamodbstreams::Client::new(&local_sdk_config(&endpoint()).await);
    let shards = streams
        .describe_stream()
        .stream_arn(&arn)
        .send()
        .await
        .unwrap()
        .stream_description
        .unwrap()
        .shards
        .unwrap_or_default();
    let mut records = Vec::new();
    for shard in shards {
        let mut iterator = streams
            .get_shard_iterator()
            .stream_arn(&arn)
            .shard_id(shard.shard_id.unwrap())
            .shard_iterator_type(aws_sdk_dynamodbstreams::types::ShardIteratorType::TrimHorizon)
            .send()
            .await
            .unwrap()
            .shard_iterator;
        while let Some(current) = iterator {
            let page = streams.get_records().shard_iterator(current).send().await.unwrap();
            let got = page.records.unwrap_or_default();
            if got.is_empty() {
                break;
            }
            for record in got {
                let data = record.dynamodb.unwrap();
                let mut dynamodb = Map::new();
                dynamodb.insert("SequenceNumber".into(), json!(data.sequence_number.unwrap()));
                let when = data.approximate_creation_date_time.map_or(0.0, |t| t.as_secs_f64());
                dynamodb.insert("ApproximateCreationDateTime".into(), json!(when));
                dynamodb.insert("Keys".into(), Value::Object(image_json(&data.keys.unwrap_or_default())));
                for (name, image) in [("NewImage", data.new_image), ("OldImage", data.old_image)] {
                    if let Some(image) = image {
                        dynamodb.insert(name.into(), Value::Object(image_json(&image)));
                    }
                }
                records.push(json!({
                    "eventName": record.event_name.map(|e| e.as_str().to_owned()),
                    "eventSource": "aws:dynamodb",
                    "dynamodb": dynamodb,
                }));
            }
            iterator = page.next_shard_iterator;
        }
    }
    records
}

async fn audit_search(h: &Harness, body: Value) -> Vec<Value> {
    let (status, found) = mgmt_call(&h.app, Method::POST, "/v1/mgmt/audit/search", &[], body).await;
    assert_eq!(status, 200, "{found}");
    found["audits"].as_array().unwrap().clone()
}

fn actions(audits: &[Value]) -> Vec<String> {
    audits
        .iter()
        .map(|a| a["action"].as_str().unwrap().to_owned())
        .collect()
}

async fn audit_items(h: &Harness) -> Vec<std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>> {
    let table = h.app.config.audit_table_name.clone().unwrap();
    h.client
        .scan()
        .table_name(table)
        .send()
        .await
        .unwrap()
        .items
        .unwrap_or_default()
}

#[tokio::test]
async fn a_scripted_attack_reads_back_as_exactly_its_events_in_order_with_no_secret() {
    let h = Harness::new().await;
    let login = "victim@example.com";
    let (key, signed_in) = h.register(login).await;
    let user_id = signed_in["user"]["userId"].as_str().unwrap().to_owned();
    let mut secrets = vec![key.clone(), signed_in["sessionJwt"].to_string(), refresh_of(&signed_in)];
    // Wrong codes to lockout (5), and one more that is refused unread.
    for _ in 0..5 {
        let wrong = wrong_code(&key, h.now());
        secrets.push(wrong.clone());
        assert_eq!(h.verify(login, &wrong).await.0, 401);
    }
    assert_eq!(h.verify(login, &wrong_code(&key, h.now())).await.0, 429);
    // The window passes; the user signs in, changes the key, support signs them out.
    h.advance(h.app.config.lockout_window_seconds + 1);
    let right = code(&key, h.now());
    let (status, again) = h.verify(login, &right).await;
    assert_eq!(status, 200, "{again}");
    secrets.extend([right, refresh_of(&again), again["sessionJwt"].to_string()]);
    let (status, updated) = h
        .update(&bearer(&format!("{PROJECT}:{}", refresh_of(&again))), login)
        .await;
    assert_eq!(status, 200, "{updated}");
    let new_key = updated["key"].as_str().unwrap().to_owned();
    h.advance(30);
    let confirm = code(&new_key, h.now());
    let (status, confirmed) = h.verify(login, &confirm).await;
    assert_eq!(status, 200, "{confirmed}");
    secrets.extend([new_key, confirm, refresh_of(&confirmed)]);
    assert_eq!(mgmt(&h.app, "logout", login).await.0, 200);

    // The stream, delivered in small batches, then all of it again (a retry).
    let records = stream_records(&h).await;
    for batch in records.chunks(3) {
        let answer = totp_lambda::stream::audit(&h.app, &management_keys(), &(), json!({ "Records": batch })).await;
        assert_eq!(answer, json!({"batchItemFailures": []}));
    }
    let stored = audit_items(&h).await.len();
    let answer = totp_lambda::stream::audit(&h.app, &management_keys(), &(), json!({ "Records": records })).await;
    assert_eq!(answer, json!({"batchItemFailures": []}));
    assert_eq!(
        audit_items(&h).await.len(),
        stored,
        "a replayed batch stores nothing new"
    );

    let by_login = audit_search(&h, json!({"externalIds": [login], "noTenants": false})).await;
    let mut expected = vec![
        "TOTPSignUpStarted",
        "UserCreated",
        "LoginFailed",
        "LoginFailed",
        "LoginFailed",
        "LoginFailed",
        "LoginExceedMaxAttempts",
        "LoginSucceed",
        "TOTPKeyUpdateStarted",
        "TOTPKeyUpdated",
        "Logout",
    ];
    expected.reverse();
    assert_eq!(actions(&by_login), expected, "newest first");
    assert_eq!(stored, expected.len(), "one record per event, nothing else");
    let newest = &by_login[0];
    assert_eq!(newest["projectId"], PROJECT);
    assert_eq!(newest["userId"], user_id.as_str());
    assert_eq!(newest["method"], "totp");
    assert_eq!(newest["data"]["allSessions"], true);
    assert!(newest["occurred"].as_u64().unwrap() > 1_600_000_000_000, "milliseconds");
    assert_eq!(by_login[4]["data"], json!({"attempts": 5, "dailyFailures": 5}));

    // By userId (the pending sign-up had none yet), by action, without an action, in time.
    let by_user = audit_search(&h, json!({"userIds": [user_id]})).await;
    assert_eq!(actions(&by_user), expected[..expected.len() - 1]);
    let failures = audit_search(&h, json!({"actions": ["LoginFailed"]})).await;
    assert_eq!(failures.len(), 4);
    let quiet = audit_search(
        &h,
        json!({"excludedActions": ["LoginFailed", "LoginExceedMaxAttempts"]}),
    )
    .await;
    assert_eq!(quiet.len(), expected.len() - 5);
    let last = by_login[0]["occurred"].as_u64().unwrap();
    assert!(audit_search(&h, json!({"from": last + 1})).await.is_empty());
    assert!(audit_search(&h, json!({"methods": ["password"]})).await.is_empty());
    assert!(audit_search(&h, json!({"externalIds": ["someone@example.com"]}))
        .await
        .is_empty());
    assert!(
        audit_search(&h, json!({"from": (last + 1) as f64})).await.is_empty(),
        "ms as a float"
    );
    for bad in [
        json!({"from": -1}),
        json!({"to": 1.5}),
        json!({"userIds": ["U2;x"]}),
        json!({"externalIds": ["a\u{200B}"]}),
    ] {
        let (status, body) = mgmt_call(&h.app, Method::POST, "/v1/mgmt/audit/search", &[], bad.clone()).await;
        assert_eq!((status, error_code(&body)), (400, "E011003"), "{bad}");
    }
    let wrong_type = json!({"noTenants": {}});
    let (status, body) = mgmt_call(&h.app, Method::POST, "/v1/mgmt/audit/search", &[], wrong_type).await;
    assert_eq!(
        (status, error_code(&body)),
        (400, "E011001"),
        "a field of the wrong type"
    );

    // No secret, code, token or loginId anywhere in the audit table (the
    // key's digits aside: time and sequence numbers, which codes could match).
    let items = audit_items(&h).await;
    let everything: String = items
        .iter()
        .flat_map(|item| item.iter())
        .filter(|(name, _)| !["sk", "occurred", "sequence", "expiresAt"].contains(&name.as_str()))
        .map(|(name, value)| format!("{name}={value:?};"))
        .collect();
    assert!(
        everything.contains("LoginExceedMaxAttempts"),
        "the scan reads the records"
    );
    secrets.push(login.to_owned());
    for secret in &secrets {
        assert!(
            !everything.contains(secret.trim_matches('"')),
            "{secret} is in the audit table"
        );
    }
}

#[tokio::test]
async fn a_record_that_cannot_be_stored_or_read_is_reported_never_skipped() {
    let h = Harness::new().await;
    h.register("poison@example.com").await;
    let records = stream_records(&h).await;
    // A right code is recorded by its one success write: no attempt first.
    assert_eq!(records.len(), 3, "signup, the registration, the pointer");
    // Storage refuses: the first record that would be stored is reported.
    let mut broken = h.app_with(totp_lambda::store::dynamo::DynamoStore::new(
        h.client.clone(),
        h.table.clone(),
    ));
    broken.store = broken.store.with_audit_table(Some("no-such-audit-table".into()));
    let first = records[0]["dynamodb"]["SequenceNumber"].clone();
    let answer = totp_lambda::stream::audit(&broken, &management_keys(), &(), json!({ "Records": records })).await;
    assert_eq!(answer, json!({"batchItemFailures": [{"itemIdentifier": first}]}));
    // An unreadable record after good ones: the good ones are stored, it is reported.
    let mut batch = records.clone();
    batch.push(json!({"dynamodb": {"SequenceNumber": "999", "Keys": {}}}));
    let answer = totp_lambda::stream::audit(&h.app, &management_keys(), &(), json!({ "Records": batch })).await;
    assert_eq!(answer, json!({"batchItemFailures": [{"itemIdentifier": "999"}]}));
    assert_eq!(audit_items(&h).await.len(), 2, "the sign-up and the registration");
}

#[tokio::test]
async fn each_record_goes_on_the_event_bus_and_a_refused_put_is_reported() {
    let h = Harness::new().await;
    h.register("bus@example.com").await;
    let records = stream_records(&h).await;
    let sdk = moto_sdk_config().await;
    let client = aws_sdk_eventbridge::Client::new(&sdk);
    let bus = format!("audit-{}", h.table);
    client.create_event_bus().name(&bus).send().await.unwrap();
    let feed = Some(totp_lambda::feed::EventBus {
        client: client.clone(),
        bus_name: bus,
    });
    let answer = totp_lambda::stream::audit(&h.app, &management_keys(), &feed, json!({ "Records": records })).await;
    assert_eq!(answer, json!({"batchItemFailures": []}));
    let missing = Some(totp_lambda::feed::EventBus {
        client,
        bus_name: "no-such-bus".into(),
    });
    let first = records[0]["dynamodb"]["SequenceNumber"].clone();
    let answer = totp_lambda::stream::audit(&h.app, &management_keys(), &missing, json!({ "Records": records })).await;
    assert_eq!(answer, json!({"batchItemFailures": [{"itemIdentifier": first}]}));
}

#[tokio::test]
async fn the_sample_stream_event_stores_its_one_record() {
    let h = Harness::new().await;
    let sample: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/events/audit-stream.json")).unwrap(),
    )
    .unwrap();
    let answer = totp_lambda::stream::audit(&h.app, &management_keys(), &(), sample).await;
    assert_eq!(answer, json!({"batchItemFailures": []}));
    let items = audit_items(&h).await;
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["action"].as_s().unwrap(), "LoginFailed");
    assert_eq!(items[0]["userId"].as_s().unwrap(), "U2SAMPLEUSER0000000000000000");
}
