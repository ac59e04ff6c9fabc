//! TLS on the API's ports: a certificate and key loaded from PEM files, reloaded when the
//! files change. Both ports share one [`ReloadingCert`]; a certificate that cannot be
//! loaded at start is an error (never a plaintext fallback), one that cannot be loaded
//! later leaves the previous certificate in place with a warning.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use futures::Stream;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

/// How often, at most, the files are checked for changes (on a handshake).
const RECHECK: Duration = Duration::from_secs(1);
/// How long a client may take to complete its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Handshaken connections waiting for the gRPC server to take them.
const ACCEPT_QUEUE: usize = 64;

/// Why a certificate or key could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read or parsed.
    #[error("TLS {what} file {path}: {reason}")]
    File {
        /// `certificate` or `key`.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The key does not belong to the certificate, or rustls refused them.
    #[error("TLS certificate {cert} and key {key}: {reason}")]
    Pair {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// Why.
        reason: String,
    },
}

/// A file's identity for change detection: modification time and length.
type Stamp = Option<(SystemTime, u64)>;

fn stamp(path: &Path) -> Stamp {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

#[derive(Debug)]
struct State {
    current: Arc<CertifiedKey>,
    stamps: (Stamp, Stamp),
    checked: Instant,
}

/// The served certificate: loaded from `cert_file` and `key_file`, and reloaded on a
/// handshake when either file changed (checked at most once a second).
#[derive(Debug)]
pub struct ReloadingCert {
    cert_file: PathBuf,
    key_file: PathBuf,
    state: Mutex<State>,
}

impl ReloadingCert {
    /// Loads the certificate chain and key; fails naming the file and the reason.
    pub fn load(cert_file: &Path, key_file: &Path) -> Result<ReloadingCert, TlsError> {
        let stamps = (stamp(cert_file), stamp(key_file));
        let current = Arc::new(load_pair(cert_file, key_file)?);
        Ok(ReloadingCert {
            cert_file: cert_file.to_owned(),
            key_file: key_file.to_owned(),
            state: Mutex::new(State {
                current,
                stamps,
                checked: Instant::now(),
            }),
        })
    }

    /// The certificate to serve now, reloaded first if the files changed.
    pub fn current(&self) -> Arc<CertifiedKey> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if state.checked.elapsed() >= RECHECK {
            state.checked = Instant::now();
            let stamps = (stamp(&self.cert_file), stamp(&self.key_file));
            if stamps != state.stamps {
                // Remembered even on failure: the next change of either file retries.
                state.stamps = stamps;
                match load_pair(&self.cert_file, &self.key_file) {
                    Ok(loaded) => {
                        tracing::info!(cert = %self.cert_file.display(), "reloaded the TLS certificate");
                        state.current = Arc::new(loaded);
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "keeping the previous TLS certificate");
                    }
                }
            }
        }
        state.current.clone()
    }

    /// A server configuration using this certificate, offering `alpn` protocols.
    pub fn server_config(self: &Arc<Self>, alpn: &[&[u8]]) -> Result<ServerConfig, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| self.pair_error(e.to_string()))?
            .with_no_client_auth()
            .with_cert_resolver(self.clone());
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Ok(config)
    }

    fn pair_error(&self, reason: String) -> TlsError {
        TlsError::Pair {
            cert: self.cert_file.clone(),
            key: self.key_file.clone(),
            reason,
        }
    }
}

impl ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

fn load_pair(cert_file: &Path, key_file: &Path) -> Result<CertifiedKey, TlsError> {
    let file_error = |what, path: &Path, reason: String| TlsError::File {
        what,
        path: path.to_owned(),
        reason,
    };
    let certs = CertificateDer::pem_file_iter(cert_file)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| file_error("certificate", cert_file, e.to_string()))?;
    if certs.is_empty() {
        return Err(file_error(
            "certificate",
            cert_file,
            "no PEM certificate in it".into(),
        ));
    }
    let key = PrivateKeyDer::from_pem_file(key_file)
        .map_err(|e| file_error("key", key_file, e.to_string()))?;
    let signer = rustls::crypto::ring::sign::any_supported_type(&key)
        .map_err(|e| file_error("key", key_file, e.to_string()))?;
    let pair = CertifiedKey::new(certs, signer);
    match pair.keys_match() {
        // Unknown means the key type cannot be compared; rustls still serves it.
        Ok(()) | Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {
            Ok(pair)
        }
        Err(e) => Err(TlsError::Pair {
            cert: cert_file.to_owned(),
            key: key_file.to_owned(),
            reason: e.to_string(),
        }),
    }
}

/// TLS connections accepted on `listener`: each handshake runs on its own task (a slow
/// client holds up no one) and is abandoned after a timeout; failed handshakes are logged
/// at debug level and dropped.
pub fn incoming(
    listener: TcpListener,
    config: ServerConfig,
) -> impl Stream<Item = std::io::Result<TlsStream<TcpStream>>> {
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let (tx, rx) = tokio::sync::mpsc::channel(ACCEPT_QUEUE);
    tokio::spawn(async move {
        loop {
            let (tcp, peer) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        tracing::warn!(error = %e, "accepting a connection");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                () = tx.closed() => return,
            };
            let _ = tcp.set_nodelay(true);
            let acceptor = acceptor.clone();
            let tx = tx.clone();
            tokio::spawn(async move {
                match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                    Ok(Ok(stream)) => {
                        let _ = tx.send(Ok(stream)).await;
                    }
                    Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                    Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                }
            });
        }
    });
    futures::stream::unfold(rx, |mut rx| async move {
        let next = rx.recv().await?;
        Some((next, rx))
    })
}
