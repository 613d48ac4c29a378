//! The vouchers service's tests, in one binary: the service over real gRPC (`grpc`) and the
//! ledger against both backends (`ledger`), on the test kit's stack and databases.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod grpc;
mod ledger;

use axv_platform::grpc::RunningServer;
use axv_proto::vouchers::v1::{self as pb, vouchers_service_client::VouchersServiceClient};
use axv_testkit::Stack;
use tonic::transport::Channel;

/// The vouchers service's gRPC client.
trait VouchersClient {
    async fn client(&self) -> VouchersServiceClient<Channel>;
}

impl VouchersClient for Stack {
    async fn client(&self) -> VouchersServiceClient<Channel> {
        VouchersServiceClient::new(self.channel("vouchers").await)
    }
}

impl VouchersClient for RunningServer {
    async fn client(&self) -> VouchersServiceClient<Channel> {
        VouchersServiceClient::new(axv_testkit::stack::connect(self).await)
    }
}

/// A usage line of `amount` GPU-seconds for job `job` on the `h100` cluster.
fn usage(job: &str, code: &str, amount: i64) -> pb::RecordUsageRequest {
    pb::RecordUsageRequest {
        cluster: "h100".into(),
        job_id: job.into(),
        voucher_code: code.into(),
        amount,
        started_at_ms: 0,
        ended_at_ms: 0,
    }
}
