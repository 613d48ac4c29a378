//! TLS in front of the machine's real Postgres and Redis, for tests of the clients' TLS: a
//! fresh certificate authority per test, and a terminator that, like a managed service
//! enforcing encryption in transit (RDS `rds.force_ssl`, ElastiCache TLS), refuses clients
//! that do not speak TLS and hands the decrypted bytes to the real server.

#![allow(clippy::expect_used)] // test support: a failed setup is a failed test

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
};

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    task::JoinHandle,
};
use tokio_rustls::TlsAcceptor;

/// A throwaway CA and a server certificate it signed for `localhost` and 127.0.0.1. The CA
/// bundle is written to a file, as operators hand it to `sslrootcert` / `AXV_REDIS_CA_FILE`.
pub struct TestPki {
    ca_file: PathBuf,
    server_chain: Vec<CertificateDer<'static>>,
    server_key: PrivatePkcs8KeyDer<'static>,
    _dir: tempfile::TempDir,
}

impl TestPki {
    pub fn new(ca_name: &str) -> Self {
        let ca_key = KeyPair::generate().expect("CA key");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, ca_name);
        let ca = CertifiedIssuer::self_signed(ca_params, ca_key).expect("CA certificate");

        let server_key = KeyPair::generate().expect("server key");
        let mut server_params =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
                .expect("server params");
        server_params
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        let server = server_params
            .signed_by(&server_key, &ca)
            .expect("server certificate");

        let dir = tempfile::tempdir().expect("temp dir");
        let ca_file = dir.path().join("ca.pem");
        std::fs::write(&ca_file, ca.pem()).expect("write CA bundle");
        Self {
            ca_file,
            server_chain: vec![server.der().clone()],
            server_key: PrivatePkcs8KeyDer::from(server_key.serialize_der()),
            _dir: dir,
        }
    }

    pub fn ca_file(&self) -> &Path {
        &self.ca_file
    }

    fn acceptor(&self) -> TlsAcceptor {
        let config = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(
                self.server_chain.clone(),
                PrivateKeyDer::Pkcs8(self.server_key.clone_key()),
            )
            .expect("server TLS config");
        TlsAcceptor::from(Arc::new(config))
    }
}

/// How a client asks for TLS.
#[derive(Clone, Copy, Debug)]
pub enum Protocol {
    /// TLS from the first byte (Redis `rediss://`).
    Direct,
    /// Postgres: an SSLRequest, the server's `S`, then TLS. A client that starts without
    /// asking gets the FATAL error a server requiring TLS sends.
    Postgres,
}

/// The terminator: listens on 127.0.0.1 (a free port) and relays each TLS session to
/// `upstream` in the clear. Counts completed handshakes, so a test can show its client
/// really went through TLS.
pub struct TlsTerminator {
    pub addr: SocketAddr,
    handshakes: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl TlsTerminator {
    pub async fn start(pki: &TestPki, protocol: Protocol, upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let acceptor = pki.acceptor();
        let handshakes = Arc::new(AtomicUsize::new(0));
        let counted = handshakes.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                let counted = counted.clone();
                tokio::spawn(async move {
                    // A failed handshake or a dropped peer ends only this session.
                    let _ = relay(client, acceptor, protocol, upstream, counted).await;
                });
            }
        });
        Self {
            addr,
            handshakes,
            task,
        }
    }

    pub fn handshakes(&self) -> usize {
        self.handshakes.load(Ordering::SeqCst)
    }
}

impl Drop for TlsTerminator {
    fn drop(&mut self) {
        self.task.abort();
    }
}

const SSL_REQUEST_CODE: u32 = 80_877_103;

async fn relay(
    mut client: TcpStream,
    acceptor: TlsAcceptor,
    protocol: Protocol,
    upstream: SocketAddr,
    handshakes: Arc<AtomicUsize>,
) -> std::io::Result<()> {
    if let Protocol::Postgres = protocol {
        let mut request = [0u8; 8];
        client.read_exact(&mut request).await?;
        let code = u32::from_be_bytes([request[4], request[5], request[6], request[7]]);
        if code != SSL_REQUEST_CODE {
            client
                .write_all(&postgres_fatal("28000", "TLS required"))
                .await?;
            return Ok(());
        }
        client.write_all(b"S").await?;
    }
    let mut tls = acceptor.accept(client).await?;
    handshakes.fetch_add(1, Ordering::SeqCst);
    let mut server = TcpStream::connect(upstream).await?;
    tokio::io::copy_bidirectional(&mut tls, &mut server).await?;
    Ok(())
}

/// A Postgres ErrorResponse message (severity FATAL) with an SQLSTATE and a message.
fn postgres_fatal(code: &str, message: &str) -> Vec<u8> {
    let mut fields = Vec::new();
    for (tag, value) in [
        (b'S', "FATAL"),
        (b'V', "FATAL"),
        (b'C', code),
        (b'M', message),
    ] {
        fields.push(tag);
        fields.extend_from_slice(value.as_bytes());
        fields.push(0);
    }
    fields.push(0);
    let mut out = vec![b'E'];
    let length = u32::try_from(fields.len() + 4).unwrap_or(u32::MAX);
    out.extend_from_slice(&length.to_be_bytes());
    out.extend_from_slice(&fields);
    out
}
