//! The vouchers service's Prometheus metrics, in the process-wide registry every `/metrics`
//! serves: ledger transfers as they commit, and each resource pool's figures (refreshed from
//! the ledger while the service runs).

use std::sync::OnceLock;

use prometheus::{IntCounterVec, IntGaugeVec, Opts};

use crate::{
    domain::{Transfer, TransferKind},
    store::PoolRecord,
};

const POOL_LABELS: &[&str] = &["pool", "name", "resource", "unit"];

struct Metrics {
    /// `axv_ledger_transfers_total{kind}`
    transfers: IntCounterVec,
    /// `axv_pool_capacity{pool,name,resource,unit}` and friends, in the pool's base unit.
    capacity: IntGaugeVec,
    committed: IntGaugeVec,
    consumed: IntGaugeVec,
    available: IntGaugeVec,
}

fn metrics() -> Option<&'static Metrics> {
    static METRICS: OnceLock<Option<Metrics>> = OnceLock::new();
    METRICS
        .get_or_init(|| match Metrics::register() {
            Ok(metrics) => Some(metrics),
            // Only a name clash with another collector can fail; metrics are not worth a crash.
            Err(error) => {
                tracing::warn!(%error, "vouchers metrics not registered");
                None
            }
        })
        .as_ref()
}

impl Metrics {
    fn register() -> Result<Self, prometheus::Error> {
        let transfers = IntCounterVec::new(
            Opts::new(
                "axv_ledger_transfers_total",
                "Ledger transfers committed, by kind (fund, grant, hold, commit, release, debit, expiry, revocation).",
            ),
            &["kind"],
        )?;
        let gauge = |name: &str, help: &str| IntGaugeVec::new(Opts::new(name, help), POOL_LABELS);
        let capacity = gauge(
            "axv_pool_capacity",
            "A resource pool's capacity, in its base unit (GPU-seconds, NPU-seconds, GB-days).",
        )?;
        let committed = gauge(
            "axv_pool_committed",
            "Granted to vouchers out of the pool's capacity, in its base unit.",
        )?;
        let consumed = gauge(
            "axv_pool_consumed",
            "Used by the pool's vouchers (metered usage and committed holds), in its base unit.",
        )?;
        let available = gauge(
            "axv_pool_available",
            "Not yet granted out of the pool's capacity, in its base unit.",
        )?;
        for collector in [&capacity, &committed, &consumed, &available] {
            axv_telemetry::metrics::register(Box::new(collector.clone()))?;
        }
        axv_telemetry::metrics::register(Box::new(transfers.clone()))?;
        // Every kind shows (at zero) from the start, so rates exist before the first transfer.
        for kind in [
            TransferKind::Fund,
            TransferKind::Grant,
            TransferKind::Hold,
            TransferKind::Commit,
            TransferKind::Release,
            TransferKind::Debit,
            TransferKind::Expiry,
            TransferKind::Revocation,
        ] {
            transfers.with_label_values(&[kind.as_str()]);
        }
        Ok(Self {
            transfers,
            capacity,
            committed,
            consumed,
            available,
        })
    }
}

/// Makes the metrics appear on `/metrics` (at zero) before anything happens.
pub fn init() {
    metrics();
}

/// Counts `transfers`; call after their transaction committed.
pub(crate) fn transfers_committed(transfers: &[Transfer]) {
    if let Some(metrics) = metrics() {
        for transfer in transfers {
            metrics
                .transfers
                .with_label_values(&[transfer.kind.as_str()])
                .inc();
        }
    }
}

/// Counts `count` transfers of one kind; call after their transaction committed.
pub(crate) fn transfers_of_kind_committed(kind: TransferKind, count: usize) {
    if let Some(metrics) = metrics() {
        metrics
            .transfers
            .with_label_values(&[kind.as_str()])
            .inc_by(count as u64);
    }
}

/// Sets every pool's gauges to `pools` (pools no longer listed disappear).
pub fn set_pools(pools: &[PoolRecord]) {
    let Some(metrics) = metrics() else {
        return;
    };
    for gauge in [
        &metrics.capacity,
        &metrics.committed,
        &metrics.consumed,
        &metrics.available,
    ] {
        gauge.reset();
    }
    for pool in pools {
        let labels = [
            pool.id.as_str(),
            pool.name.as_str(),
            pool.kind.as_str(),
            pool.unit.as_str(),
        ];
        metrics
            .capacity
            .with_label_values(&labels)
            .set(pool.capacity);
        metrics
            .committed
            .with_label_values(&labels)
            .set(pool.committed);
        metrics
            .consumed
            .with_label_values(&labels)
            .set(pool.consumed);
        metrics
            .available
            .with_label_values(&labels)
            .set(pool.available);
    }
}
