//! The ledger's core: idempotent operations applying double-entry transfers to account
//! balances. Accounts move in one UPDATE per operation (or batch), in account-id order, so two
//! operations never lock rows in opposite orders; a decrease that would take an account that
//! may not go negative below zero is refused and the whole transaction rolls back, so no
//! committed balance is ever negative under any concurrency.

use std::collections::HashMap;

use axv_platform::ids::{new_id, now_ms};
use sqlx::AnyConnection;

use crate::{
    domain::{Account, Transfer, net_deltas},
    error::VouchersError,
};

/// A decrease the balance could not cover; the caller words the refusal.
#[derive(Debug)]
pub struct Insufficient {
    pub account: Account,
    pub balance: i64,
}

pub enum Begun {
    /// First time: go ahead, then `finish_operation`.
    New,
    /// Done before with the same content: its stored result.
    Done(String),
}

/// Registers operation `id`; the same id with a different fingerprint is a CONFLICT.
pub async fn begin_operation(
    conn: &mut AnyConnection,
    id: &str,
    kind: &str,
    fingerprint: &str,
) -> Result<Begun, VouchersError> {
    let inserted = sqlx::query(
        "INSERT INTO ledger_operations (id, kind, fingerprint, result, created_at) VALUES ($1, $2, $3, '', $4) \
         ON CONFLICT (id) DO NOTHING",
    )
    .bind(id)
    .bind(kind)
    .bind(fingerprint)
    .bind(now_ms())
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if inserted == 1 {
        return Ok(Begun::New);
    }
    let (stored_fingerprint, result): (String, String) =
        sqlx::query_as("SELECT fingerprint, result FROM ledger_operations WHERE id = $1")
            .bind(id)
            .fetch_one(&mut *conn)
            .await?;
    if stored_fingerprint != fingerprint {
        return Err(VouchersError::Conflict(format!(
            "id {id} was already used for a different request"
        )));
    }
    Ok(Begun::Done(result))
}

pub async fn finish_operation(
    conn: &mut AnyConnection,
    id: &str,
    result: &str,
) -> Result<(), VouchersError> {
    sqlx::query("UPDATE ledger_operations SET result = $1 WHERE id = $2")
        .bind(result)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn open_account(
    conn: &mut AnyConnection,
    account: &Account,
    pool_id: &str,
    voucher_id: Option<&str>,
) -> Result<(), VouchersError> {
    sqlx::query(
        "INSERT INTO ledger_accounts (id, kind, pool_id, voucher_id, balance, may_go_negative) VALUES ($1, $2, $3, $4, 0, $5) \
         ON CONFLICT (id) DO NOTHING",
    )
    .bind(account.id())
    .bind(account.kind())
    .bind(pool_id)
    .bind(voucher_id)
    .bind(i64::from(account.may_go_negative()))
    .execute(conn)
    .await?;
    Ok(())
}

/// Applies `transfers` as one unit of operation `operation_id`: either every balance changes or
/// (with `Err(Ok(Insufficient))`) the caller rolls back. Returns every touched account's new
/// balance.
pub async fn apply(
    conn: &mut AnyConnection,
    operation_id: &str,
    transfers: &[Transfer],
    voucher_id: Option<&str>,
) -> Result<Result<HashMap<String, i64>, Insufficient>, VouchersError> {
    apply_all(
        conn,
        &[Operation {
            id: operation_id,
            transfers,
            voucher_id,
        }],
    )
    .await
}

/// One idempotent unit of [`apply_all`]; `voucher_id` is the voucher whose running balance its
/// entries show.
pub struct Operation<'a> {
    pub id: &'a str,
    pub transfers: &'a [Transfer],
    pub voucher_id: Option<&'a str>,
}

/// Rows per multi-row INSERT of transfers (10 values each, well under every backend's limit).
const TRANSFERS_PER_INSERT: usize = 200;

/// Accounts per balance UPDATE (three binds each).
const ACCOUNTS_PER_UPDATE: usize = 300;

/// Applies several operations at once, in order, as [`apply`] applies one: each account moves
/// once by its net delta, every account in one UPDATE, and the entries go in with multi-row
/// INSERTs. This is what lets a batch of debits cost a handful of statements and one commit.
/// On `Err(Insufficient)` balances have moved: the caller must roll back (every caller does).
pub async fn apply_all(
    conn: &mut AnyConnection,
    operations: &[Operation<'_>],
) -> Result<Result<HashMap<String, i64>, Insufficient>, VouchersError> {
    let all: Vec<Transfer> = operations
        .iter()
        .flat_map(|o| o.transfers.iter().cloned())
        .collect();
    let deltas = net_deltas(&all);
    let mut balances = HashMap::new();
    // Every account in one statement (a CASE picks each one's delta), in id order as the index
    // walks the list; a decrease no account may take shows as a negative balance, refused below
    // and rolled back by the caller with everything else.
    for chunk in deltas.chunks(ACCOUNTS_PER_UPDATE) {
        let cases: String = (0..chunk.len())
            .map(|n| format!(" WHEN ${} THEN ${}", 2 * n + 1, 2 * n + 2))
            .collect();
        let sql = format!(
            "UPDATE ledger_accounts SET balance = balance + CASE id{cases} END WHERE id IN ({}) RETURNING id, balance",
            super::placeholders(2 * chunk.len() + 1, chunk.len())
        );
        let mut query = sqlx::query_as::<_, (String, i64)>(&sql);
        for (account, delta) in chunk {
            query = query.bind(account.id()).bind(*delta);
        }
        for (account, _) in chunk {
            query = query.bind(account.id());
        }
        balances.extend(query.fetch_all(&mut *conn).await?);
    }
    for (account, delta) in deltas {
        let id = account.id();
        let Some(&after) = balances.get(&id) else {
            return Err(VouchersError::Internal(format!(
                "ledger account {id} does not exist"
            )));
        };
        if delta < 0 && after < 0 && !account.may_go_negative() {
            return Ok(Err(Insufficient {
                account,
                balance: after - delta,
            }));
        }
    }
    // Each entry shows the spendable balance right after it, so a voucher's ledger reads as a
    // running account even when operations move money in several steps: start from the balance
    // after everything, less every step's effect, and replay.
    let effect = |t: &Transfer, v: &str| {
        crate::domain::spendable_effect(&t.from.id(), &t.to.id(), t.amount, v)
    };
    let mut running: HashMap<&str, i64> = HashMap::new();
    for operation in operations {
        let Some(v) = operation.voucher_id else {
            continue;
        };
        if !running.contains_key(v) {
            let after = match balances.get(&format!("voucher:{v}")) {
                Some(balance) => *balance,
                None => {
                    let (balance,): (i64,) =
                        sqlx::query_as("SELECT balance FROM ledger_accounts WHERE id = $1")
                            .bind(format!("voucher:{v}"))
                            .fetch_one(&mut *conn)
                            .await?;
                    balance
                }
            };
            running.insert(v, after);
        }
        if let Some(balance) = running.get_mut(v) {
            *balance -= operation
                .transfers
                .iter()
                .map(|t| effect(t, v))
                .sum::<i64>();
        }
    }
    let mut entries = Vec::with_capacity(all.len());
    for operation in operations {
        for transfer in operation.transfers {
            let after = operation.voucher_id.and_then(|v| {
                let balance = running.get_mut(v)?;
                *balance += effect(transfer, v);
                Some(*balance)
            });
            entries.push((operation, transfer, after));
        }
    }
    let now = now_ms();
    for chunk in entries.chunks(TRANSFERS_PER_INSERT) {
        let sql = format!(
            "INSERT INTO ledger_transfers (id, operation_id, kind, debit_account, credit_account, amount, voucher_id, \
             voucher_balance_after, reference, created_at) VALUES {}",
            super::value_rows(chunk.len(), 10)
        );
        let mut query = sqlx::query(&sql);
        for (operation, transfer, after) in chunk {
            query = query
                .bind(new_id())
                .bind(operation.id)
                .bind(transfer.kind.as_str())
                .bind(transfer.from.id())
                .bind(transfer.to.id())
                .bind(transfer.amount)
                .bind(operation.voucher_id)
                .bind(*after)
                .bind(transfer.reference.as_deref())
                .bind(now);
        }
        query.execute(&mut *conn).await?;
    }
    Ok(Ok(balances))
}

/// Current balances of the given accounts (absent ones are zero).
pub async fn balances(
    conn: &mut AnyConnection,
    ids: &[String],
) -> Result<HashMap<String, i64>, VouchersError> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let sql = format!(
        "SELECT id, balance FROM ledger_accounts WHERE id IN ({})",
        super::placeholders(1, ids.len())
    );
    let mut query = sqlx::query_as::<_, (String, i64)>(&sql);
    for id in ids {
        query = query.bind(id);
    }
    Ok(query.fetch_all(conn).await?.into_iter().collect())
}
