//! Sign-in links on DynamoDB. A link is its own item,
//! `<projectId>|link|<sha256 of the token>`, holding where its user is
//! stored and which user it was issued for; it expires through TTL. The
//! management function writes it; the sessions function spends it in one
//! transaction that deletes it (if still there and unexpired) and checks
//! its user, so two redemptions of one link never both sign in.

use aws_sdk_dynamodb::types::{Delete, TransactWriteItem};

use super::item::{attr, n, s, Item};
use super::sessions::invalid;
use super::{bindings, classify, DynamoStore};
use crate::domain::ProjectId;
use crate::store::{SessionRef, SignInLink, StoreError, UserKey};

const CUSTOM_CLAIMS: &str = "customClaims";

impl DynamoStore {
    /// A sign-in link of `project`. Project ids are letters and digits, so
    /// `|` after one never begins a user's key.
    pub fn sign_in_link_key(project: &ProjectId, token_hash: &str) -> String {
        format!("{}|link|{token_hash}", project.as_str())
    }

    pub(super) async fn put_link(&self, project: &ProjectId, link: &SignInLink) -> Result<(), StoreError> {
        let mut request = self
            .client
            .put_item()
            .table_name(&self.table)
            .item(attr::PK, s(&Self::sign_in_link_key(project, &link.token_hash)))
            .item(attr::LOGIN_ID, s(&link.login_id))
            .item(attr::USER_ID, s(&link.user_id))
            .item(attr::EXPIRES_AT, n(link.expires_at))
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", attr::PK);
        if let Some(claims) = &link.custom_claims {
            request = request.item(CUSTOM_CLAIMS, s(claims));
        }
        request.send().await.map(|_| ()).map_err(classify)
    }

    pub(super) async fn get_link(
        &self,
        project: &ProjectId,
        token_hash: &str,
    ) -> Result<Option<SignInLink>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(attr::PK, s(&Self::sign_in_link_key(project, token_hash)))
            .consistent_read(true)
            .send()
            .await
            .map_err(classify)?;
        let Some(item) = output.item.map(Item) else {
            return Ok(None);
        };
        let required = |name: &str, value: Option<String>| {
            value.ok_or_else(|| StoreError::Corrupt(format!("a sign-in link without {name}")))
        };
        Ok(Some(SignInLink {
            token_hash: token_hash.to_owned(),
            login_id: required(attr::LOGIN_ID, item.string(attr::LOGIN_ID)?)?,
            user_id: required(attr::USER_ID, item.string(attr::USER_ID)?)?,
            expires_at: item
                .number(attr::EXPIRES_AT)?
                .ok_or_else(|| StoreError::Corrupt("a sign-in link without expiresAt".into()))?,
            custom_claims: item.string(CUSTOM_CLAIMS)?,
        }))
    }

    pub(super) async fn spend_link(
        &self,
        key: &UserKey,
        link: &SignInLink,
        generation: u64,
        now: u64,
    ) -> Result<(), StoreError> {
        // TTL deletion lags: an expired link is refused by the condition.
        let unspent = "attribute_exists(#pk) AND #expiresAt > :now";
        let (names, values) = bindings(&[unspent], vec![(":now", n(now))]);
        let delete = Delete::builder()
            .table_name(&self.table)
            .key(attr::PK, s(&Self::sign_in_link_key(&key.project, &link.token_hash)))
            .condition_expression(unspent)
            .set_expression_attribute_names(names)
            .set_expression_attribute_values(values);
        // The user it was issued for, in the generation read: no token yet.
        let session = SessionRef {
            user_id: link.user_id.clone(),
            generation,
            token_id: String::new(),
        };
        self.transact([
            TransactWriteItem::builder()
                .delete(delete.build().map_err(invalid)?)
                .build(),
            TransactWriteItem::builder()
                .condition_check(self.live_session_check(key, &session)?)
                .build(),
        ])
        .await
    }
}
