//! The platform's gRPC services in the order they start (each after the services it calls):
//! the one table `axv up`, `axv serve` and the test kit iterate. A new service is one line here.

use std::{any::Any, future::Future, pin::Pin};

use axv_platform::{
    config::Platform,
    grpc::{RunningServer, ServeError, Upstreams},
    shutdown::CancellationToken,
};

pub type Spawning<'a> = Pin<Box<dyn Future<Output = Result<Started, ServeError>> + Send + 'a>>;

/// A service serving, and its in-process handle (e.g. `axv_vouchers::service::Vouchers`), which
/// the test kit hands to tests by type.
pub struct Started {
    pub server: RunningServer,
    pub service: Box<dyn Any + Send + Sync>,
}

/// One gRPC service of the platform.
pub struct Service {
    /// Its name in `axv serve`, in [`Upstreams`], and its Postgres schema / SQLite file.
    pub name: &'static str,
    /// The services it calls, by name; each comes before it in [`SERVICES`].
    pub upstreams: &'static [&'static str],
    /// The port `axv serve` listens on unless told otherwise.
    pub default_port: u16,
    /// Migrates its database and serves on the address given until the token is cancelled.
    pub spawn:
        for<'a> fn(&'a Platform, &'a str, &'a Upstreams, &'a CancellationToken) -> Spawning<'a>,
}

macro_rules! service {
    ($krate:ident) => {
        Service {
            name: $krate::NAME,
            upstreams: $krate::UPSTREAMS,
            default_port: $krate::DEFAULT_PORT,
            spawn: |platform, listen, upstreams, shutdown| {
                Box::pin(async move {
                    let running = $krate::spawn(platform, listen, upstreams, shutdown).await?;
                    Ok(Started {
                        server: running.server,
                        service: Box::new(running.service),
                    })
                })
            },
        }
    };
}

pub const SERVICES: [Service; 6] = [
    service!(axv_onboarding),
    service!(axv_pilots),
    service!(axv_vouchers),
    service!(axv_outcomes),
    service!(axv_notify),
    service!(axv_documents),
];

/// The service named `name`.
pub fn service(name: &str) -> Option<&'static Service> {
    SERVICES.iter().find(|service| service.name == name)
}

/// `names` and every service they call, directly or not, in starting order.
pub fn with_upstreams(names: &[&str]) -> Vec<&'static Service> {
    let mut needed: Vec<&str> = names.to_vec();
    // SERVICES lists callers after what they call: one pass from the end closes the set.
    for service in SERVICES.iter().rev() {
        if needed.contains(&service.name) {
            needed.extend(service.upstreams);
        }
    }
    SERVICES
        .iter()
        .filter(|service| needed.contains(&service.name))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_service_starts_after_what_it_calls() {
        for (at, service) in SERVICES.iter().enumerate() {
            for upstream in service.upstreams {
                let before = SERVICES[..at].iter().any(|s| s.name == *upstream);
                assert!(
                    before,
                    "{} calls {upstream}, which is not before it",
                    service.name
                );
            }
        }
    }

    #[test]
    fn a_service_brings_what_it_calls() {
        let names = |services: Vec<&Service>| services.iter().map(|s| s.name).collect::<Vec<_>>();
        assert_eq!(names(with_upstreams(&["onboarding"])), ["onboarding"]);
        assert_eq!(
            names(with_upstreams(&["vouchers"])),
            ["onboarding", "pilots", "vouchers"]
        );
        assert_eq!(names(with_upstreams(&["outcomes"])).len(), 4);
    }
}
