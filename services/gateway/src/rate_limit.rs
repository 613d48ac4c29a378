//! Rate limits, counted in the shared key-value store (Redis, so every gateway replica counts
//! against the same budget; in-process on the embedded default).
//!
//! Two budgets per window, each kept per principal (the token's subject) and per client
//! address: requests, and query cost (the complexity async-graphql computes while validating,
//! so one huge query costs what many small ones do). Roles get their own limits; anonymous
//! callers are limited by address alone. `/oauth/token` has its own stricter budget.

use std::{collections::HashMap, str::FromStr, sync::Arc, time::Duration};

use async_graphql::{
    ServerError, ValidationResult,
    extensions::{Extension, ExtensionContext, ExtensionFactory, NextValidation},
};
use axv_auth::{Caller, Role};
use axv_platform::kv::{RateLimiter, SharedKv};

/// The window every budget is counted over.
pub const WINDOW: Duration = Duration::from_secs(60);

/// Requests and cost allowed per window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    pub requests: i64,
    pub cost: i64,
}

impl FromStr for Budget {
    type Err = String;

    /// `REQUESTS/COST`, e.g. `600/60000`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (requests, cost) = text
            .split_once('/')
            .ok_or_else(|| format!("{text:?} is not REQUESTS/COST"))?;
        let number = |t: &str| {
            t.trim()
                .parse::<i64>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| format!("{t:?} is not a positive number"))
        };
        Ok(Self {
            requests: number(requests)?,
            cost: number(cost)?,
        })
    }
}

/// Budgets per role, per client address, and for the token endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimits {
    pub roles: HashMap<Role, Budget>,
    /// Every request from one address, whoever makes it (also the anonymous budget).
    pub per_address: Budget,
    /// `/oauth/token` requests per address.
    pub token_endpoint_per_address: i64,
    /// Accounts created (`signUp`) per address: each costs an Argon2id hash.
    pub sign_ups_per_address: i64,
    /// Off only for load tests against a trusted client.
    pub enabled: bool,
}

impl Default for RateLimits {
    fn default() -> Self {
        let roles = [
            (Role::FirmMember, "300/100000"),
            (Role::ProgramManager, "1200/500000"),
            (Role::Operator, "1200/200000"),
            (Role::Dashboard, "6000/2000000"),
            (Role::Admin, "1200/500000"),
        ]
        .into_iter()
        .filter_map(|(role, budget)| Some((role, budget.parse().ok()?)))
        .collect();
        Self {
            roles,
            per_address: Budget {
                requests: 6000,
                cost: 2_000_000,
            },
            token_endpoint_per_address: 30,
            sign_ups_per_address: 10,
            enabled: true,
        }
    }
}

impl RateLimits {
    /// Applies `ROLE=REQUESTS/COST` pairs (comma-separated; `ADDRESS` for the per-address
    /// budget), e.g. `DASHBOARD=6000/2000000,ADDRESS=600/200000`.
    pub fn with_overrides(mut self, text: &str) -> Result<Self, String> {
        for pair in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, budget) = pair
                .split_once('=')
                .ok_or_else(|| format!("{pair:?} is not ROLE=REQUESTS/COST"))?;
            let budget: Budget = budget.parse()?;
            match name.trim() {
                "ADDRESS" => self.per_address = budget,
                role => {
                    let role = Role::from_str(role).map_err(|_| {
                        format!("{role:?} is not a role (or ADDRESS) in the rate limits")
                    })?;
                    self.roles.insert(role, budget);
                }
            }
        }
        Ok(self)
    }
}

/// One budget check's refusal: how long until the window resets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limited {
    pub retry_after: Duration,
}

/// The counters one request is charged to.
#[derive(Clone)]
pub struct Limiter {
    limiter: RateLimiter,
    limits: Arc<RateLimits>,
}

/// What a request is charged to, carried into validation for the cost budget.
#[derive(Clone)]
pub struct Charge {
    limiter: Limiter,
    keys: Vec<(String, Budget)>,
    address: String,
}

impl Limiter {
    pub fn new(kv: SharedKv, limits: RateLimits) -> Self {
        Self {
            limiter: RateLimiter::new(kv),
            limits: Arc::new(limits),
        }
    }

    /// The budgets a request from `caller` at `address` counts against.
    pub fn charge(&self, caller: Option<&Caller>, address: &str) -> Charge {
        let mut keys = vec![(format!("addr:{address}"), self.limits.per_address)];
        if let Some(caller) = caller
            && let Some(budget) = self.limits.roles.get(&caller.role)
        {
            keys.push((format!("sub:{}", caller.subject), *budget));
        }
        Charge {
            limiter: self.clone(),
            keys,
            address: address.to_owned(),
        }
    }

    async fn hit(&self, key: &str, limit: i64, cost: i64) -> Result<(), Limited> {
        if !self.limits.enabled {
            return Ok(());
        }
        match self.limiter.hit(key, limit, WINDOW, cost).await {
            Ok(decision) if decision.allowed => Ok(()),
            Ok(decision) => Err(Limited {
                retry_after: decision.retry_after.max(Duration::from_secs(1)),
            }),
            // A store outage must not take the API down with it; it is logged and let through.
            Err(error) => {
                tracing::warn!(%error, "rate limiter unavailable; request let through");
                Ok(())
            }
        }
    }

    /// One request to `/oauth/token` from `address`.
    pub async fn token_request(&self, address: &str) -> Result<(), Limited> {
        self.hit(
            &format!("token:{address}"),
            self.limits.token_endpoint_per_address,
            1,
        )
        .await
    }
}

impl Charge {
    /// Counts one request against every budget (the counters are hit concurrently: one round
    /// trip's latency, not one per budget).
    pub async fn request(&self) -> Result<(), Limited> {
        self.hit_all("req", 1, |budget| budget.requests).await
    }

    /// One account created from this request's address (`signUp`), on a budget of its own.
    pub async fn sign_up(&self) -> Result<(), Limited> {
        self.limiter
            .hit(
                &format!("signup:{}", self.address),
                self.limiter.limits.sign_ups_per_address,
                1,
            )
            .await
    }

    /// Counts a validated operation's cost against every budget.
    pub async fn cost(&self, cost: i64) -> Result<(), Limited> {
        self.hit_all("cost", cost, |budget| budget.cost).await
    }

    async fn hit_all(
        &self,
        kind: &str,
        amount: i64,
        limit: impl Fn(&Budget) -> i64,
    ) -> Result<(), Limited> {
        let hits = self.keys.iter().map(|(key, budget)| {
            let key = format!("{kind}:{key}");
            let limit = limit(budget);
            async move { self.limiter.hit(&key, limit, amount).await }
        });
        futures::future::join_all(hits)
            .await
            .into_iter()
            .collect::<Result<Vec<()>, Limited>>()
            .map(|_| ())
    }
}

/// The `extensions.code` and message of a refusal, plus when to retry.
pub fn limited_error(limited: Limited) -> ServerError {
    let mut error = ServerError::new(
        format!(
            "rate limit reached; retry after {} s",
            limited.retry_after.as_secs()
        ),
        None,
    );
    let mut extensions = async_graphql::ErrorExtensionValues::default();
    extensions.set("code", axv_platform::ErrorCode::RateLimited.as_str());
    extensions.set(
        "retryAfter",
        i64::try_from(limited.retry_after.as_secs()).unwrap_or(i64::MAX),
    );
    error.extensions = Some(extensions);
    error
}

/// Charges each operation's complexity, as validation computed it, to the request's budgets;
/// an operation over budget does not run.
pub struct CostMeter;

impl ExtensionFactory for CostMeter {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(CostMeterExtension)
    }
}

struct CostMeterExtension;

#[async_graphql::async_trait::async_trait]
impl Extension for CostMeterExtension {
    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        let result = next.run(ctx).await?;
        if let Some(charge) = ctx.data_opt::<Charge>() {
            let cost = i64::try_from(result.complexity.max(1)).unwrap_or(i64::MAX);
            if let Err(limited) = charge.cost(cost).await {
                return Err(vec![limited_error(limited)]);
            }
        }
        Ok(result)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use axv_platform::kv::MemoryKv;

    use super::*;

    #[test]
    fn budgets_and_overrides_parse_and_bad_ones_are_named() {
        assert_eq!(
            "10/200".parse::<Budget>(),
            Ok(Budget {
                requests: 10,
                cost: 200
            })
        );
        assert!("10".parse::<Budget>().is_err());
        assert!("0/5".parse::<Budget>().is_err());
        let limits = RateLimits::default()
            .with_overrides("DASHBOARD=5/50, ADDRESS=7/70")
            .unwrap();
        assert_eq!(limits.roles[&Role::Dashboard].requests, 5);
        assert_eq!(limits.per_address.cost, 70);
        let error = RateLimits::default()
            .with_overrides("WIZARD=1/1")
            .unwrap_err();
        assert!(error.contains("WIZARD"), "{error}");
    }

    fn caller(role: Role, subject: &str) -> Caller {
        Caller {
            subject: subject.to_owned(),
            role,
            company_ids: vec![],
            token_id: String::new(),
            expires_at: 0,
            issuer: String::new(),
            raw_token: Arc::from(""),
        }
    }

    #[tokio::test]
    async fn requests_over_the_budget_are_refused_per_principal_and_per_address() {
        let limits = RateLimits::default()
            .with_overrides("DASHBOARD=2/1000,ADDRESS=3/1000")
            .unwrap();
        let limiter = Limiter::new(Arc::new(MemoryKv::default()), limits);
        let a = caller(Role::Dashboard, "client:a");
        let b = caller(Role::Dashboard, "client:b");
        assert!(limiter.charge(Some(&a), "10.0.0.1").request().await.is_ok());
        assert!(limiter.charge(Some(&a), "10.0.0.2").request().await.is_ok());
        // The principal's third request, from anywhere, is over its budget.
        let refused = limiter
            .charge(Some(&a), "10.0.0.3")
            .request()
            .await
            .unwrap_err();
        assert!(refused.retry_after >= Duration::from_secs(1));
        // Another principal is unaffected...
        assert!(limiter.charge(Some(&b), "10.0.0.4").request().await.is_ok());
        // ...but one address has its own budget whoever calls from it.
        assert!(limiter.charge(None, "10.0.0.1").request().await.is_ok());
        assert!(limiter.charge(None, "10.0.0.1").request().await.is_ok());
        assert!(limiter.charge(None, "10.0.0.1").request().await.is_err());
    }

    #[tokio::test]
    async fn cost_is_its_own_budget() {
        let limits = RateLimits::default()
            .with_overrides("ADDRESS=1000/100")
            .unwrap();
        let limiter = Limiter::new(Arc::new(MemoryKv::default()), limits);
        let charge = limiter.charge(None, "10.0.0.9");
        assert!(charge.cost(60).await.is_ok());
        assert!(charge.cost(60).await.is_err());
        assert!(charge.request().await.is_ok());
    }

    #[tokio::test]
    async fn the_token_endpoint_is_limited_per_address() {
        let limits = RateLimits {
            token_endpoint_per_address: 2,
            ..RateLimits::default()
        };
        let limiter = Limiter::new(Arc::new(MemoryKv::default()), limits);
        assert!(limiter.token_request("1.2.3.4").await.is_ok());
        assert!(limiter.token_request("1.2.3.4").await.is_ok());
        assert!(limiter.token_request("1.2.3.4").await.is_err());
        assert!(limiter.token_request("5.6.7.8").await.is_ok());
    }
}
