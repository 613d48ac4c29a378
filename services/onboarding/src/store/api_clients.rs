//! API clients (OAuth 2.0 client credentials).

use super::*;

impl Store {
    /// Registers a client whose secret has the digest `secret_hash`, with its event.
    pub async fn create_api_client(
        &self,
        name: &str,
        role: Role,
        secret_hash: &str,
        created_by: &Actor,
    ) -> Result<ApiClientRecord, OnboardingError> {
        let client = ApiClientRecord {
            id: new_id(),
            name: name.to_owned(),
            role,
            created_at: now_ms(),
            created_by: created_by.history_id(),
            last_used_at: None,
            revoked_at: None,
        };
        let mut tx = self.db.pool().begin().await.map_err(StoreError::from)?;
        sqlx::query(
            "INSERT INTO api_clients (id, name, role, secret_hash, created_at, created_by) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&client.id)
        .bind(&client.name)
        .bind(client.role.as_str())
        .bind(secret_hash)
        .bind(client.created_at)
        .bind(&client.created_by)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from)?;
        let event = Event::new(SERVICE, "api_client.registered", &client.id)
            .with_payload(serde_json::json!({ "role": client.role.as_str() }));
        self.outbox.enqueue(&mut tx, &event).await?;
        let change = Change::new("api_client.registered", "api_client", &client.id)
            .summary(client.role.as_str());
        audit::record(&mut tx, created_by, &change).await?;
        self.outbox.commit(tx).await?;
        Ok(client)
    }

    /// Every client, revoked ones included, in registration order.
    pub async fn api_clients(&self) -> Result<Vec<ApiClientRecord>, OnboardingError> {
        let rows = sqlx::query(&format!(
            "SELECT {API_CLIENT_COLUMNS} FROM api_clients ORDER BY created_at, id"
        ))
        .fetch_all(self.db.reads())
        .await
        .map_err(StoreError::from)?;
        Ok(rows
            .iter()
            .map(ApiClientRecord::from_row)
            .collect::<Result<_, _>>()?)
    }

    pub async fn api_client(&self, id: &str) -> Result<Option<ApiClientRecord>, OnboardingError> {
        let row = sqlx::query(&format!(
            "SELECT {API_CLIENT_COLUMNS} FROM api_clients WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(self.db.reads())
        .await
        .map_err(StoreError::from)?;
        Ok(row.as_ref().map(ApiClientRecord::from_row).transpose()?)
    }

    /// The client and its secret's stored digest, for a token exchange only.
    pub async fn api_client_credentials(
        &self,
        id: &str,
    ) -> Result<Option<(ApiClientRecord, String)>, OnboardingError> {
        let row = sqlx::query(&format!(
            "SELECT {API_CLIENT_COLUMNS}, secret_hash FROM api_clients WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(self.db.reads())
        .await
        .map_err(StoreError::from)?;
        let Some(row) = row else {
            return Ok(None);
        };
        let hash: String = row.try_get("secret_hash").map_err(StoreError::from)?;
        Ok(Some((ApiClientRecord::from_row(&row)?, hash)))
    }

    /// Records a successful exchange; false when the client is unknown or was revoked meanwhile
    /// (the update is guarded on `revoked_at`, so no exchange succeeds after a revocation commits).
    pub async fn touch_api_client(&self, id: &str) -> Result<bool, OnboardingError> {
        let updated = sqlx::query(
            "UPDATE api_clients SET last_used_at = $1 WHERE id = $2 AND revoked_at IS NULL",
        )
        .bind(now_ms())
        .bind(id)
        .execute(self.db.pool())
        .await
        .map_err(StoreError::from)?
        .rows_affected();
        Ok(updated == 1)
    }

    /// Marks the client revoked, with its event; a client revoked before is returned unchanged.
    pub async fn revoke_api_client(
        &self,
        id: &str,
        revoked_by: &Actor,
    ) -> Result<ApiClientRecord, OnboardingError> {
        let mut tx = self.db.pool().begin().await.map_err(StoreError::from)?;
        let changed = sqlx::query(
            "UPDATE api_clients SET revoked_at = $1, revoked_by = $2 WHERE id = $3 AND revoked_at IS NULL",
        )
        .bind(now_ms())
        .bind(revoked_by.history_id())
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from)?
        .rows_affected();
        if changed == 1 {
            let event = Event::new(SERVICE, "api_client.revoked", id);
            self.outbox.enqueue(&mut tx, &event).await?;
            let change =
                Change::new("api_client.revoked", "api_client", id).summary("ACTIVE → REVOKED");
            audit::record(&mut tx, revoked_by, &change).await?;
        }
        let row = sqlx::query(&format!(
            "SELECT {API_CLIENT_COLUMNS} FROM api_clients WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(StoreError::from)?;
        let client = row
            .as_ref()
            .map(ApiClientRecord::from_row)
            .transpose()?
            .ok_or(OnboardingError::NotFound("API client"))?;
        self.outbox.commit(tx).await?;
        Ok(client)
    }
}
