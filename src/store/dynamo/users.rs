//! The user lifecycle on DynamoDB: registration (by a first code, or by an
//! administrator) with its userId pointer, status, lookup by userId,
//! search and deletion.
//!
//! A registered user has a pointer item `<projectId>|uid|<userId>` holding
//! its loginId, written and deleted in the same transaction as the user, so
//! a lookup by userId is two strongly consistent reads. Registered users
//! also carry `project`, the partition key of the `byProject` index (sort
//! key `pk`), which lists a project's users in loginId order without a Scan.

use aws_sdk_dynamodb::types::{Delete, Put, ReturnValue, TransactWriteItem, Update};

use super::item::{attr, b, n, params_value, profile_map, s, Item, BY_PROJECT_INDEX, DISABLED, PENDING, REGISTERED};
use super::sessions::invalid;
use super::{bindings, classify, open_windows_values, DynamoStore, PENDING_KEY, WINDOWS_OPEN};
use crate::domain::ProjectId;
use crate::store::{NewUser, OpenWindows, Status, StoreError, UserKey, UserQuery, UserRecord};

/// Index entries read per Query while filtering: one page of a search
/// costs what it skips and keeps, never the whole project.
const QUERY_CHUNK: i32 = 200;
/// Rounds of re-reading before a deletion racing registrations gives up.
const DELETE_ROUNDS: usize = 3;

impl DynamoStore {
    /// The userId pointer of `project`. Project ids are letters and digits,
    /// so `|` after one never begins a user's key.
    pub fn user_id_key(project: &ProjectId, user_id: &str) -> String {
        format!("{}|uid|{user_id}", project.as_str())
    }

    fn pointer_put(&self, key: &UserKey, user_id: &str) -> Result<TransactWriteItem, StoreError> {
        let put = Put::builder()
            .table_name(&self.table)
            .item(attr::PK, s(&Self::user_id_key(&key.project, user_id)))
            .item(attr::LOGIN_ID, s(key.login_id.as_str()))
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", attr::PK)
            .build()
            .map_err(invalid)?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    pub(super) async fn register_signup(
        &self,
        key: &UserKey,
        attempt_id: &str,
        enrollment_id: &str,
        step: u64,
        user_id: &str,
        open: &OpenWindows,
    ) -> Result<u64, StoreError> {
        let now = open.now;
        let update_expression = "SET #status = :registered, #userId = :userId, #createdTime = :now, \
             #lastStep = :step, #acceptedAttemptId = :attemptId, #project = :project, \
             #sessionGeneration = :zero \
             REMOVE #expiresAt, #attempts, #attemptsWindowStart, #attemptIds";
        let condition =
            format!("#status = :pending AND #enrollmentId = :enrollment AND #expiresAt > :now AND {WINDOWS_OPEN}");
        let mut values = vec![
            (":registered", s(REGISTERED)),
            (":pending", s(PENDING)),
            (":userId", s(user_id)),
            (":attemptId", s(attempt_id)),
            (":now", n(now)),
            (":step", n(step)),
            (":enrollment", s(enrollment_id)),
            (":project", s(key.project.as_str())),
            (":zero", n(0)),
        ];
        values.extend(open_windows_values(open));
        let (names, values) = bindings(&[update_expression, &condition], values);
        let update = Update::builder()
            .table_name(&self.table)
            .key(attr::PK, Self::pk(key))
            .update_expression(update_expression)
            .condition_expression(condition)
            .set_expression_attribute_names(names)
            .set_expression_attribute_values(values)
            .build()
            .map_err(invalid)?;
        self.transact([
            TransactWriteItem::builder().update(update).build(),
            self.pointer_put(key, user_id)?,
        ])
        .await?;
        // Signup writes a pending item whole, with no generation: a
        // registration starts the user's sessions at generation 0.
        Ok(0)
    }

    pub(super) async fn put_new_user(&self, user: &NewUser) -> Result<(), StoreError> {
        let mut put = Put::builder()
            .table_name(&self.table)
            .item(attr::PK, Self::pk(&user.key))
            .item(attr::STATUS, s(REGISTERED))
            .item(attr::USER_ID, s(&user.user_id))
            .item(attr::CREATED_TIME, n(user.created_time))
            .item(attr::ENROLLMENT_ID, s(&user.enrollment_id))
            .item(attr::PROFILE, profile_map(&user.profile))
            .item(attr::PROJECT, s(user.key.project.as_str()))
            .item(attr::SESSION_GENERATION, n(0))
            // A pending sign-up was nobody yet: the administrator's user replaces it.
            .condition_expression("attribute_not_exists(#pk) OR #status = :pending")
            .expression_attribute_names("#pk", attr::PK)
            .expression_attribute_names("#status", attr::STATUS)
            .expression_attribute_values(":pending", s(PENDING));
        if let Some((sealed, params)) = &user.secret {
            put = put
                .item(attr::SECRET, b(&sealed.blob))
                .item(attr::SECRET_KEY_ID, s(&sealed.key_id));
            if let Some(params) = params_value(*params) {
                put = put.item(attr::TOTP_PARAMS, params);
            }
        }
        if user.disabled {
            put = put.item(attr::USER_STATUS, s(DISABLED));
        }
        self.transact([
            TransactWriteItem::builder().put(put.build().map_err(invalid)?).build(),
            self.pointer_put(&user.key, &user.user_id)?,
        ])
        .await
    }

    pub(super) async fn write_status(&self, key: &UserKey, disabled: bool) -> Result<UserRecord, StoreError> {
        let (update, values) = if disabled {
            // Every session and any pending key end in the same write.
            (
                format!("SET #userStatus = :disabled ADD #sessionGeneration :one REMOVE {PENDING_KEY}"),
                vec![(":disabled", s(DISABLED)), (":one", n(1))],
            )
        } else {
            ("REMOVE #userStatus".to_owned(), Vec::new())
        };
        let mut values = values;
        values.push((":registered", s(REGISTERED)));
        self.conditional_update_returning(key, &update, "#status = :registered", values, ReturnValue::AllNew)
            .await?
            .record()
    }

    pub(super) async fn read_pointer(&self, project: &ProjectId, user_id: &str) -> Result<Option<String>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(attr::PK, s(&Self::user_id_key(project, user_id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(classify)?;
        match output.item.map(Item) {
            None => Ok(None),
            Some(item) => item
                .string(attr::LOGIN_ID)?
                .map(Some)
                .ok_or_else(|| StoreError::Corrupt("a userId pointer without loginId".into())),
        }
    }

    /// Deletes the user's item, and with a registered user its pointer, in
    /// one transaction conditioned on the userId read; a pending sign-up
    /// (or nothing) is deleted on the condition that it is still not a
    /// registered user. A registration landing in between is read again.
    pub(super) async fn delete_user_and_pointer(&self, key: &UserKey) -> Result<(), StoreError> {
        for _ in 0..DELETE_ROUNDS {
            let user_id = match self.read_item(key).await? {
                Some(item) => item.string(attr::USER_ID)?,
                None => None,
            };
            let written = match user_id {
                Some(user_id) => self.delete_registered(key, &user_id).await,
                None => self.delete_unregistered(key).await,
            };
            match written {
                Err(StoreError::Conflict) => continue,
                other => return other,
            }
        }
        Err(StoreError::Unavailable(
            "the user kept changing while being deleted".into(),
        ))
    }

    async fn read_item(&self, key: &UserKey) -> Result<Option<Item>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(attr::PK, Self::pk(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(classify)?;
        Ok(output.item.map(Item))
    }

    async fn delete_registered(&self, key: &UserKey, user_id: &str) -> Result<(), StoreError> {
        let same_user = "#userId = :userId";
        let (names, values) = bindings(&[same_user], vec![(":userId", s(user_id))]);
        let user = Delete::builder()
            .table_name(&self.table)
            .key(attr::PK, Self::pk(key))
            .condition_expression(same_user)
            .set_expression_attribute_names(names)
            .set_expression_attribute_values(values)
            .build()
            .map_err(invalid)?;
        let pointer = Delete::builder()
            .table_name(&self.table)
            .key(attr::PK, s(&Self::user_id_key(&key.project, user_id)))
            .build()
            .map_err(invalid)?;
        self.transact([
            TransactWriteItem::builder().delete(user).build(),
            TransactWriteItem::builder().delete(pointer).build(),
        ])
        .await
    }

    async fn delete_unregistered(&self, key: &UserKey) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key(attr::PK, Self::pk(key))
            .condition_expression("attribute_not_exists(#userId)")
            .expression_attribute_names("#userId", attr::USER_ID)
            .send()
            .await
            .map(|_| ())
            .map_err(classify)
    }

    pub(super) async fn query_users(
        &self,
        project: &ProjectId,
        query: &UserQuery,
    ) -> Result<Vec<(String, UserRecord)>, StoreError> {
        let skip = query.page.saturating_mul(query.limit);
        let wanted = skip.saturating_add(query.limit);
        let prefix = format!("{}#", project.as_str());
        // The page's keys, in loginId order.
        let mut matched: Vec<String> = Vec::new();
        if query.login_ids.is_empty() {
            let mut start = None;
            loop {
                let output = self
                    .client
                    .query()
                    .table_name(&self.table)
                    .index_name(BY_PROJECT_INDEX)
                    .key_condition_expression("#project = :project")
                    .expression_attribute_names("#project", attr::PROJECT)
                    .expression_attribute_values(":project", s(project.as_str()))
                    .limit(QUERY_CHUNK)
                    .set_exclusive_start_key(start)
                    .send()
                    .await
                    .map_err(classify)?;
                for item in output.items.unwrap_or_default().into_iter().map(Item) {
                    let Some(login_id) = item
                        .string(attr::PK)?
                        .and_then(|pk| pk.strip_prefix(&prefix).map(str::to_owned))
                    else {
                        continue;
                    };
                    let disabled = item.string(attr::USER_STATUS)?.as_deref() == Some(DISABLED);
                    if query.admits(&login_id, &item.profile()?, disabled) {
                        matched.push(login_id);
                    }
                }
                start = output.last_evaluated_key;
                if matched.len() >= wanted || start.is_none() {
                    break;
                }
            }
        } else {
            // Named users: read them all (the HTTP layer caps how many), then page.
            let pks = query
                .login_ids
                .iter()
                .map(|l| format!("{prefix}{}", l.as_str()))
                .collect();
            let mut users = self.admitted(&prefix, query, self.consistent_batch_get(pks).await?)?;
            users.sort_by(|a, b| a.0.cmp(&b.0));
            users.dedup_by(|a, b| a.0 == b.0);
            return Ok(users.into_iter().skip(skip).take(query.limit).collect());
        }
        let page: Vec<String> = matched.into_iter().skip(skip).take(query.limit).collect();
        let pks = page.iter().map(|login_id| format!("{prefix}{login_id}")).collect();
        // A user deleted or changed since the index listed them is read as
        // they are now: gone, or filtered again.
        let mut users = self.admitted(&prefix, query, self.consistent_batch_get(pks).await?)?;
        users.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(users)
    }

    /// The registered users among `items` that `query` admits, with their loginIds.
    fn admitted(
        &self,
        prefix: &str,
        query: &UserQuery,
        items: Vec<Item>,
    ) -> Result<Vec<(String, UserRecord)>, StoreError> {
        let mut users = Vec::new();
        for item in items {
            let Some(login_id) = item
                .string(attr::PK)?
                .and_then(|pk| pk.strip_prefix(prefix).map(str::to_owned))
            else {
                continue;
            };
            let record = item.record()?;
            let registered = matches!(record.status, Status::Registered { .. });
            if registered && query.admits(&login_id, &record.profile, record.disabled) {
                users.push((login_id, record));
            }
        }
        Ok(users)
    }
}

/// Users registered before the userId pointer and the `byProject` index
/// existed have neither: this gives each registered user without `project`
/// both, in one transaction per user conditioned on the user read (so a
/// user deleted or re-created meanwhile is left alone). A full scan, run
/// once after upgrading (`cargo run --example backfill_users`); running it
/// again finds nothing to do. Returns how many users it completed.
pub async fn backfill_user_index(client: &aws_sdk_dynamodb::Client, table: &str) -> Result<u64, StoreError> {
    let store = DynamoStore::new(client.clone(), table);
    let mut done = 0;
    let mut start = None;
    loop {
        let output = client
            .scan()
            .table_name(table)
            .filter_expression("#status = :registered AND attribute_not_exists(#project)")
            .expression_attribute_names("#status", attr::STATUS)
            .expression_attribute_names("#project", attr::PROJECT)
            .expression_attribute_values(":registered", s(REGISTERED))
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(classify)?;
        for item in output.items.unwrap_or_default().into_iter().map(Item) {
            let (Some(pk), Some(user_id)) = (item.string(attr::PK)?, item.string(attr::USER_ID)?) else {
                continue;
            };
            // Project ids are letters and digits, so the first '#' splits.
            let Some((project, login_id)) = pk.split_once('#') else {
                continue;
            };
            let (Some(project), Ok(login_id)) =
                (ProjectId::parse(project), crate::domain::LoginId::parse(Some(login_id)))
            else {
                continue;
            };
            let key = UserKey { project, login_id };
            let same_user = "#userId = :userId AND attribute_not_exists(#project)";
            let set = "SET #project = :project";
            let (names, values) = bindings(
                &[set, same_user],
                vec![(":userId", s(&user_id)), (":project", s(key.project.as_str()))],
            );
            let update = Update::builder()
                .table_name(table)
                .key(attr::PK, DynamoStore::pk(&key))
                .update_expression(set)
                .condition_expression(same_user)
                .set_expression_attribute_names(names)
                .set_expression_attribute_values(values)
                .build()
                .map_err(invalid)?;
            match store
                .transact([
                    TransactWriteItem::builder().update(update).build(),
                    store.pointer_put(&key, &user_id)?,
                ])
                .await
            {
                Ok(()) => done += 1,
                // Changed since the scan read it: whatever wrote it wrote both.
                Err(StoreError::Conflict) => {}
                Err(e) => return Err(e),
            }
        }
        start = output.last_evaluated_key;
        if start.is_none() {
            return Ok(done);
        }
    }
}
