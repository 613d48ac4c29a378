//! The services a test names, started as `axv up` starts them.

use axv::components::{self, Started};
use axv_auth::Role;
use axv_platform::{
    config::Platform,
    grpc::{RunningServer, Upstreams},
    shutdown::CancellationToken,
    testing::{TestDb, platform},
};
use tonic::transport::Channel;

/// A connected channel to `server` (a service of a stack, or another replica of one).
pub async fn connect(server: &RunningServer) -> Channel {
    Channel::from_shared(server.url())
        .unwrap()
        .connect()
        .await
        .unwrap()
}

/// Services running over real gRPC on free loopback ports, on one test database, with their
/// in-process handles; stopped by [`Stack::stop`] (or with the test's runtime).
pub struct Stack {
    pub platform: Platform,
    pub shutdown: CancellationToken,
    started: Vec<(&'static str, Started)>,
    _db: TestDb,
}

impl Stack {
    /// `services` (by name: `"vouchers"`) and those they call, on a fresh signing key and the
    /// in-process cache and bus.
    pub async fn start(db: TestDb, services: &[&str]) -> Stack {
        let platform = platform(db.config.clone());
        Self::start_on(db, platform, services).await
    }

    /// On a platform of the test's making (e.g. with a Redis event bus).
    pub async fn start_on(db: TestDb, platform: Platform, services: &[&str]) -> Stack {
        let shutdown = CancellationToken::new();
        let needed = components::with_upstreams(services);
        assert_eq!(
            needed.iter().filter(|s| services.contains(&s.name)).count(),
            services.len(),
            "unknown service among {services:?}"
        );
        let started = axv::start_services(&platform, &needed, &shutdown)
            .await
            .unwrap();
        Stack {
            platform,
            shutdown,
            started,
            _db: db,
        }
    }

    pub fn server(&self, service: &str) -> &RunningServer {
        self.started
            .iter()
            .find(|(name, _)| *name == service)
            .map(|(_, started)| &started.server)
            .unwrap_or_else(|| panic!("{service} was not started"))
    }

    pub fn url(&self, service: &str) -> String {
        self.server(service).url()
    }

    /// Where each started service is reached, for starting another component beside them.
    pub fn upstreams(&self) -> Upstreams {
        self.started
            .iter()
            .map(|(name, started)| (*name, started.server.url()))
            .collect()
    }

    /// A connected channel to `service`.
    pub async fn channel(&self, service: &str) -> Channel {
        connect(self.server(service)).await
    }

    /// The in-process handle of type `T` (e.g. `axv_vouchers::service::Vouchers`).
    pub fn service<T: 'static>(&self) -> &T {
        self.started
            .iter()
            .find_map(|(_, started)| started.service.downcast_ref::<T>())
            .unwrap_or_else(|| panic!("no service {} started", std::any::type_name::<T>()))
    }

    pub fn onboarding(&self) -> &axv_onboarding::service::Onboarding {
        self.service()
    }

    pub fn pilots(&self) -> &axv_pilots::service::Pilots {
        self.service()
    }

    pub fn vouchers(&self) -> &axv_vouchers::service::Vouchers {
        self.service()
    }

    pub fn outcomes(&self) -> &axv_outcomes::service::Outcomes {
        self.service()
    }

    /// Another replica of `service` on the same database, as a second `axv serve <service>`
    /// behind a load balancer would be; stops with the stack.
    pub async fn another_replica(&self, service: &str) -> RunningServer {
        let spawn = components::service(service)
            .unwrap_or_else(|| panic!("no service {service}"))
            .spawn;
        spawn(
            &self.platform,
            "127.0.0.1:0",
            &self.upstreams(),
            &self.shutdown,
        )
        .await
        .unwrap()
        .server
    }

    /// A staff token for `role`, as an operator mints with `axv token`.
    pub fn token(&self, role: Role) -> String {
        self.platform
            .issuer
            .issue(&axv_platform::ids::new_id(), role, vec![])
            .unwrap()
            .token
    }

    /// Cancels every service and waits until each has drained.
    pub async fn stop(self) {
        self.shutdown.cancel();
        for (name, started) in self.started {
            started
                .server
                .task
                .await
                .unwrap_or_else(|e| panic!("{name}: {e}"))
                .unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }
}
