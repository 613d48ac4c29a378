//! Companies: applications and their review, members, histories, lists and counts.

use super::*;

impl Store {
    /// Search keys for companies stored before they existed; a no-op once every row has one.
    pub async fn backfill_search_keys(&self) -> Result<usize, StoreError> {
        let rows: Vec<(String, String, Option<String>)> =
            sqlx::query_as("SELECT id, name_ko, name_en FROM companies WHERE search_key IS NULL")
                .fetch_all(self.db.reads())
                .await?;
        for (id, name_ko, name_en) in &rows {
            let key = axv_platform::text::search_key(&format!(
                "{name_ko}\n{}",
                name_en.as_deref().unwrap_or_default()
            ));
            sqlx::query("UPDATE companies SET search_key = $1 WHERE id = $2")
                .bind(key)
                .bind(id)
                .execute(self.db.pool())
                .await?;
        }
        Ok(rows.len())
    }

    pub async fn company_ids_of(&self, user_id: &str) -> Result<Vec<String>, OnboardingError> {
        let ids: Vec<(String,)> = sqlx::query_as(
            "SELECT company_id FROM company_members WHERE user_id = $1 ORDER BY company_id",
        )
        .bind(user_id)
        .fetch_all(self.db.reads())
        .await
        .map_err(StoreError::from)?;
        Ok(ids.into_iter().map(|(id,)| id).collect())
    }

    pub async fn create_company(
        &self,
        draft: &CompanyDraft,
        creator: &Actor,
    ) -> Result<CompanyRecord, OnboardingError> {
        let creator_id = creator.history_id();
        let creator_id = creator_id.as_str();
        let id = new_id();
        let now = now_ms();
        let mut tx = self.db.pool().begin().await.map_err(StoreError::from)?;
        let inserted = sqlx::query(
            "INSERT INTO companies (id, business_number, name_ko, name_en, sector, presence, employees, \
             founded_on, contact_email, status, created_at, updated_at, search_key) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11, $12)",
        )
        .bind(&id)
        .bind(draft.business_number.as_str())
        .bind(&draft.name_ko)
        .bind(draft.name_en.as_deref())
        .bind(draft.sector.as_str())
        .bind(draft.presence.as_str())
        .bind(draft.employees)
        .bind(draft.founded_on.map(|d| d.to_string()))
        .bind(draft.contact_email.as_str())
        .bind(CompanyStatus::Draft.as_str())
        .bind(now)
        .bind(company_search_key(draft))
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from);
        match inserted {
            Ok(_) => {}
            Err(e)
                if e.is_unique_on("companies.business_number", "companies_business_number_key") =>
            {
                return Err(OnboardingError::Conflict(
                    "a company with this business registration number is already registered".into(),
                ));
            }
            Err(e) => return Err(e.into()),
        }
        sqlx::query("INSERT INTO company_members (company_id, user_id, added_at, added_by) VALUES ($1, $2, $3, $2)")
            .bind(&id)
            .bind(creator_id)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::from)?;
        record_change(
            &mut tx,
            &id,
            None,
            CompanyStatus::Draft,
            creator_id,
            None,
            now,
        )
        .await?;
        // memberIds lets live subscribers learn their new company without a lookup.
        let event = Event::new(SERVICE, "company.created", &id)
            .for_companies(vec![id.clone()])
            .with_payload(serde_json::json!({ "memberIds": [creator_id] }));
        self.outbox.enqueue(&mut tx, &event).await?;
        let company = fetch_company(&mut tx, &id)
            .await?
            .ok_or(OnboardingError::NotFound("company"))?;
        let change = Change::new("company.created", "company", &id)
            .company(&id)
            .transition(None, CompanyStatus::Draft.as_str());
        audit::record(&mut tx, creator, &change).await?;
        self.outbox.commit(tx).await?;
        Ok(company)
    }

    /// Replaces the application's fields while the firm may still edit it.
    pub async fn update_company(
        &self,
        id: &str,
        draft: &CompanyDraft,
        actor: &Actor,
    ) -> Result<CompanyRecord, OnboardingError> {
        let mut tx = self.db.pool().begin().await.map_err(StoreError::from)?;
        let current = fetch_company(&mut tx, id)
            .await?
            .ok_or(OnboardingError::NotFound("company"))?;
        if !current.status.is_editable() {
            return Err(OnboardingError::Domain(CompanyRefusal::NotEditable(
                current.status,
            )));
        }
        let updated = sqlx::query(
            "UPDATE companies SET business_number = $1, name_ko = $2, name_en = $3, sector = $4, presence = $5, \
             employees = $6, founded_on = $7, contact_email = $8, updated_at = $9, search_key = $12 \
             WHERE id = $10 AND status = $11",
        )
        .bind(draft.business_number.as_str())
        .bind(&draft.name_ko)
        .bind(draft.name_en.as_deref())
        .bind(draft.sector.as_str())
        .bind(draft.presence.as_str())
        .bind(draft.employees)
        .bind(draft.founded_on.map(|d| d.to_string()))
        .bind(draft.contact_email.as_str())
        .bind(now_ms())
        .bind(id)
        .bind(current.status.as_str())
        .bind(company_search_key(draft))
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from);
        match updated {
            Ok(result) if result.rows_affected() == 1 => {}
            Ok(_) => {
                return Err(OnboardingError::Conflict(
                    "the company changed meanwhile; retry".into(),
                ));
            }
            Err(e)
                if e.is_unique_on("companies.business_number", "companies_business_number_key") =>
            {
                return Err(OnboardingError::Conflict(
                    "a company with this business registration number is already registered".into(),
                ));
            }
            Err(e) => return Err(e.into()),
        }
        let company = fetch_company(&mut tx, id)
            .await?
            .ok_or(OnboardingError::NotFound("company"))?;
        let change = Change::new("company.updated", "company", id)
            .company(id)
            .summary(changed_fields(&current, &company));
        audit::record(&mut tx, actor, &change).await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(company)
    }

    pub async fn company(&self, id: &str) -> Result<Option<CompanyRecord>, OnboardingError> {
        let mut conn = self.db.reads().acquire().await.map_err(StoreError::from)?;
        fetch_company(&mut conn, id).await
    }

    pub async fn companies_by_ids(
        &self,
        ids: &[String],
    ) -> Result<Vec<CompanyRecord>, OnboardingError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT {COMPANY_COLUMNS} FROM companies WHERE id IN ({})",
            placeholders(1, ids.len())
        );
        let mut query = sqlx::query(&sql);
        for id in ids {
            query = query.bind(id);
        }
        let rows = query
            .fetch_all(self.db.reads())
            .await
            .map_err(StoreError::from)?;
        Ok(rows
            .iter()
            .map(CompanyRecord::from_row)
            .collect::<Result<_, _>>()?)
    }

    pub async fn company_by_business_number(
        &self,
        business_number: &str,
    ) -> Result<Option<CompanyRecord>, OnboardingError> {
        let row = sqlx::query(&format!(
            "SELECT {COMPANY_COLUMNS} FROM companies WHERE business_number = $1"
        ))
        .bind(business_number)
        .fetch_optional(self.db.reads())
        .await
        .map_err(StoreError::from)?;
        Ok(row.as_ref().map(CompanyRecord::from_row).transpose()?)
    }

    pub async fn is_member(
        &self,
        company_id: &str,
        user_id: &str,
    ) -> Result<bool, OnboardingError> {
        let found: Option<(String,)> = sqlx::query_as(
            "SELECT company_id FROM company_members WHERE company_id = $1 AND user_id = $2",
        )
        .bind(company_id)
        .bind(user_id)
        .fetch_optional(self.db.reads())
        .await
        .map_err(StoreError::from)?;
        Ok(found.is_some())
    }

    pub async fn add_member(
        &self,
        company_id: &str,
        user_id: &str,
        added_by: &Actor,
    ) -> Result<(), OnboardingError> {
        let mut tx = self.db.pool().begin().await.map_err(StoreError::from)?;
        let added = sqlx::query(
            "INSERT INTO company_members (company_id, user_id, added_at, added_by) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (company_id, user_id) DO NOTHING",
        )
        .bind(company_id)
        .bind(user_id)
        .bind(now_ms())
        .bind(added_by.history_id())
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from)?
        .rows_affected();
        if added == 1 {
            let event = Event::new(SERVICE, "company.member_added", company_id)
                .for_companies(vec![company_id.to_owned()])
                .with_payload(serde_json::json!({ "memberIds": [user_id] }));
            self.outbox.enqueue(&mut tx, &event).await?;
            let change = Change::new("company.member_added", "company", company_id)
                .company(company_id)
                .summary(format!("member {user_id} added"));
            audit::record(&mut tx, added_by, &change).await?;
        }
        self.outbox.commit(tx).await?;
        Ok(())
    }

    /// (company id, cluster user name) of every member of these companies who gave one.
    pub async fn cluster_users_of(
        &self,
        company_ids: &[String],
    ) -> Result<Vec<(String, String)>, OnboardingError> {
        let mut found = Vec::new();
        for chunk in company_ids.chunks(500) {
            let sql = format!(
                "SELECT m.company_id, u.cluster_user FROM company_members m JOIN users u ON u.id = m.user_id \
                 WHERE u.cluster_user IS NOT NULL AND m.company_id IN ({}) ORDER BY m.company_id, u.cluster_user",
                axv_platform::db::placeholders(1, chunk.len())
            );
            let mut query = sqlx::query_as::<_, (String, String)>(&sql);
            for id in chunk {
                query = query.bind(id);
            }
            found.extend(
                query
                    .fetch_all(self.db.reads())
                    .await
                    .map_err(StoreError::from)?,
            );
        }
        Ok(found)
    }

    pub async fn members_of(&self, company_id: &str) -> Result<Vec<UserRecord>, OnboardingError> {
        let rows = sqlx::query(
            "SELECT u.id, u.email, u.name, u.role, u.password_hash, u.cluster_user, u.language, u.deactivated_at FROM users u \
             JOIN company_members m ON m.user_id = u.id WHERE m.company_id = $1 ORDER BY m.added_at, u.id",
        )
        .bind(company_id)
        .fetch_all(self.db.reads())
        .await
        .map_err(StoreError::from)?;
        Ok(rows
            .iter()
            .map(UserRecord::from_row)
            .collect::<Result<_, _>>()?)
    }

    /// Every recorded transition of each company, oldest first.
    pub async fn histories(
        &self,
        company_ids: &[String],
    ) -> Result<HashMap<String, Vec<StatusChangeRecord>>, OnboardingError> {
        let mut histories: HashMap<String, Vec<StatusChangeRecord>> = HashMap::new();
        if company_ids.is_empty() {
            return Ok(histories);
        }
        let sql = format!(
            "SELECT company_id, from_status, to_status, at, actor, note FROM company_status_changes \
             WHERE company_id IN ({}) ORDER BY at, id",
            placeholders(1, company_ids.len())
        );
        let mut query = sqlx::query_as::<
            _,
            (String, Option<String>, String, i64, String, Option<String>),
        >(&sql);
        for id in company_ids {
            query = query.bind(id);
        }
        for (company_id, from, to, at, actor, note) in query
            .fetch_all(self.db.reads())
            .await
            .map_err(StoreError::from)?
        {
            histories
                .entry(company_id)
                .or_default()
                .push(StatusChangeRecord {
                    from,
                    to,
                    at,
                    actor,
                    note,
                });
        }
        Ok(histories)
    }

    /// A page of companies in id (creation) order after `after`, and the total matching.
    pub async fn list_companies(
        &self,
        scope: &ListScope,
        filter: &CompanyFilter,
        after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<CompanyRecord>, i64), OnboardingError> {
        let mut filters = Filters::default();
        match scope {
            ListScope::All => {}
            ListScope::MemberOf(user_id) => {
                filters.clause(
                    "id IN (SELECT company_id FROM company_members WHERE user_id = {})",
                    user_id.clone(),
                );
            }
            ListScope::PublicOnly => {
                let public = CompanyStatus::ALL
                    .iter()
                    .filter(|s| s.is_public())
                    .map(|s| s.as_str().to_owned());
                filters.any_of("status", public.collect());
            }
        }
        // An empty filter list means "any", not "none".
        if !filter.statuses.is_empty() {
            filters.any_of(
                "status",
                filter
                    .statuses
                    .iter()
                    .map(|s| s.as_str().to_owned())
                    .collect(),
            );
        }
        if !filter.sectors.is_empty() {
            filters.any_of(
                "sector",
                filter
                    .sectors
                    .iter()
                    .map(|s| s.as_str().to_owned())
                    .collect(),
            );
        }
        if !filter.presences.is_empty() {
            filters.any_of(
                "presence",
                filter
                    .presences
                    .iter()
                    .map(|s| s.as_str().to_owned())
                    .collect(),
            );
        }
        if let Some(text) = filter
            .text
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
        {
            filters.clause(
                "search_key LIKE {} ESCAPE '\\'",
                axv_platform::text::contains_pattern(text),
            );
        }
        let (rows, total) = filters
            .page(&self.db, "companies", COMPANY_COLUMNS, after, limit)
            .await?;
        Ok((
            rows.iter()
                .map(CompanyRecord::from_row)
                .collect::<Result<_, _>>()?,
            total,
        ))
    }

    /// How many companies in `sectors` (empty: every sector) have applied, and how many of them
    /// are approved now; one statement, so both figures come from the same snapshot.
    pub async fn count_companies(
        &self,
        sectors: &[Sector],
        company_ids: &[String],
    ) -> Result<CompanyCounts, OnboardingError> {
        let mut filters = Filters::default();
        if !company_ids.is_empty() {
            filters.any_of("id", company_ids.to_vec());
        }
        // Approved companies are a subset of applied ones, so one scan counts both.
        filters.clause("status <> {}", CompanyStatus::Draft.as_str().to_owned());
        if !sectors.is_empty() {
            filters.any_of(
                "sector",
                sectors.iter().map(|s| s.as_str().to_owned()).collect(),
            );
        }
        let sql = format!(
            "SELECT COUNT(*), COUNT(CASE WHEN status = ${} THEN 1 END) FROM companies{}",
            filters.binds().len() + 1,
            filters.sql()
        );
        let mut query = sqlx::query_as::<_, (i64, i64)>(&sql);
        for bind in filters.binds() {
            query = query.bind(bind);
        }
        let (registered, approved) = query
            .bind(CompanyStatus::Approved.as_str())
            .fetch_one(self.db.reads())
            .await
            .map_err(StoreError::from)?;
        Ok(CompanyCounts {
            registered,
            approved,
        })
    }

    /// Applies `action` if the company's current state allows it and `authorize` agrees, records
    /// the transition and its event, all in one transaction.
    pub async fn transition(
        &self,
        id: &str,
        action: CompanyAction,
        actor: &Actor,
        note: Option<&str>,
        authorize: impl FnOnce(&CompanyRecord) -> Result<(), OnboardingError>,
    ) -> Result<CompanyRecord, OnboardingError> {
        let now = now_ms();
        let mut tx = self.db.pool().begin().await.map_err(StoreError::from)?;
        let current = fetch_company(&mut tx, id)
            .await?
            .ok_or(OnboardingError::NotFound("company"))?;
        authorize(&current)?;
        let to = action.apply(current.status)?;
        // Guarded by the state just read: two reviewers acting at once cannot both win.
        let changed = sqlx::query(
            "UPDATE companies SET status = $1, updated_at = $2 WHERE id = $3 AND status = $4",
        )
        .bind(to.as_str())
        .bind(now)
        .bind(id)
        .bind(current.status.as_str())
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from)?
        .rows_affected();
        if changed != 1 {
            return Err(OnboardingError::Conflict(
                "the company changed meanwhile; retry".into(),
            ));
        }
        record_change(
            &mut tx,
            id,
            Some(current.status),
            to,
            &actor.history_id(),
            note,
            now,
        )
        .await?;
        let event = Event::new(SERVICE, action.event_kind(), id)
            .for_companies(vec![id.to_owned()])
            .public(to.is_public())
            .with_payload(
                serde_json::json!({ "from": current.status.as_str(), "to": to.as_str() }),
            );
        self.outbox.enqueue(&mut tx, &event).await?;
        let company = fetch_company(&mut tx, id)
            .await?
            .ok_or(OnboardingError::NotFound("company"))?;
        let change = Change::new(action.event_kind(), "company", id)
            .company(id)
            .transition(Some(current.status.as_str()), to.as_str())
            .note(note);
        audit::record(&mut tx, actor, &change).await?;
        self.outbox.commit(tx).await?;
        Ok(company)
    }
}

/// The application's fields an edit changed, by name (values stay in the record itself).
fn changed_fields(before: &CompanyRecord, after: &CompanyRecord) -> String {
    let fields = [
        (
            "businessNumber",
            before.business_number != after.business_number,
        ),
        ("nameKo", before.name_ko != after.name_ko),
        ("nameEn", before.name_en != after.name_en),
        ("sector", before.sector != after.sector),
        ("presence", before.presence != after.presence),
        ("employees", before.employees != after.employees),
        ("foundedOn", before.founded_on != after.founded_on),
        ("contactEmail", before.contact_email != after.contact_email),
    ];
    let changed: Vec<&str> = fields
        .iter()
        .filter(|(_, changed)| *changed)
        .map(|(name, _)| *name)
        .collect();
    if changed.is_empty() {
        "saved without changes".to_owned()
    } else {
        format!("changed: {}", changed.join(", "))
    }
}

async fn fetch_company(
    conn: &mut sqlx::AnyConnection,
    id: &str,
) -> Result<Option<CompanyRecord>, OnboardingError> {
    let row = sqlx::query(&format!(
        "SELECT {COMPANY_COLUMNS} FROM companies WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await
    .map_err(StoreError::from)?;
    Ok(row.as_ref().map(CompanyRecord::from_row).transpose()?)
}

async fn record_change(
    conn: &mut sqlx::AnyConnection,
    company_id: &str,
    from: Option<CompanyStatus>,
    to: CompanyStatus,
    actor: &str,
    note: Option<&str>,
    at: i64,
) -> Result<(), OnboardingError> {
    sqlx::query(
        "INSERT INTO company_status_changes (id, company_id, from_status, to_status, at, actor, note) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(new_id())
    .bind(company_id)
    .bind(from.map(CompanyStatus::as_str))
    .bind(to.as_str())
    .bind(at)
    .bind(actor)
    .bind(note)
    .execute(conn)
    .await
    .map_err(StoreError::from)?;
    Ok(())
}

/// Both names in the form search compares (case-, width- and composition-blind).
fn company_search_key(draft: &CompanyDraft) -> String {
    axv_platform::text::search_key(&format!(
        "{}\n{}",
        draft.name_ko,
        draft.name_en.as_deref().unwrap_or_default()
    ))
}
