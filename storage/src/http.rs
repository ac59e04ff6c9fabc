//! What the HTTP clients on reqwest 0.13 share: the S3 blob store here, and the webhook
//! sinks of the actors crate.

/// Makes ring the process-wide rustls crypto provider unless one is set. object_store signs
/// with ring, and reqwest's rustls has no bundled provider (so aws-lc is never built):
/// rustls takes the process default, which must be ring. Call it before building a client.
pub fn install_ring_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Fails only if another thread installed one meanwhile: that one serves.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

/// The error and its causes, which HTTP clients' own messages leave out ("error sending
/// request" says nothing of the certificate or the refused connection behind it).
pub fn with_causes(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
