//! Throwaway databases: a SQLite directory per test, or a Postgres database per test copied
//! from a template that holds every service's migrations (made once for all test processes).

use axv_platform::testing::TestDb;
use sqlx::migrate::Migrator;

/// Every service's schema and migrations, as the template database holds them.
pub const SCHEMAS: [(&str, &Migrator); 6] = [
    (axv_onboarding::NAME, &axv_onboarding::MIGRATOR),
    (axv_pilots::NAME, &axv_pilots::MIGRATOR),
    (axv_vouchers::NAME, &axv_vouchers::MIGRATOR),
    (axv_outcomes::NAME, &axv_outcomes::MIGRATOR),
    (axv_notify::NAME, &axv_notify::MIGRATOR),
    (axv_documents::NAME, &axv_documents::MIGRATOR),
];

/// A migrated Postgres database of the test's own, or `None` (outside CI) without Postgres.
pub async fn postgres() -> Option<TestDb> {
    TestDb::postgres_migrated(&SCHEMAS).await
}

/// Generates `<name>::sqlite` and `<name>::postgres` tests running `$body(TestDb)`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident => $body:ident),+ $(,)?) => {
        $(
            mod $name {
                #[tokio::test]
                async fn sqlite() {
                    super::$body($crate::TestDb::sqlite()).await;
                }

                #[tokio::test]
                async fn postgres() {
                    if let Some(db) = $crate::db::postgres().await {
                        super::$body(db).await;
                    }
                }
            }
        )+
    };
}
