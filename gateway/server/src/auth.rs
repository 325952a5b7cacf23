//! Caller authentication: mTLS client certificate or bearer token bound to a tenant; in sandbox
//! mode only, an unauthenticated loopback caller acts as the sandbox tenant. The resolved `Caller`
//! is put in the request extensions for both the gRPC and the HTTP handlers.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use sha2::{Digest, Sha256};

use passerelle_domain::error::{Error, Origin, Reason};

/// Connection facts set by the listener.
#[derive(Debug, Clone)]
pub struct ConnInfo {
    pub peer: SocketAddr,
    /// Subject DN of the verified client certificate, if any.
    pub client_subject: Option<String>,
}

/// Who is calling, and as which tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub tenant: String,
    pub authenticated_by: String,
}

/// Token and certificate bindings, built from the config.
#[derive(Debug, Default)]
pub struct Authenticator {
    /// SHA-256 of the token → tenant (tokens are never kept in clear).
    tokens: HashMap<[u8; 32], String>,
    subjects: HashMap<String, String>,
    sandbox_tenant: Option<String>,
}

impl Authenticator {
    pub fn new(sandbox_tenant: Option<String>) -> Self {
        Self {
            sandbox_tenant,
            ..Self::default()
        }
    }

    pub fn add_token(&mut self, token: &str, tenant: &str) {
        self.tokens.insert(
            Sha256::digest(token.trim().as_bytes()).into(),
            tenant.to_string(),
        );
    }

    pub fn add_subject(&mut self, subject: &str, tenant: &str) {
        self.subjects
            .insert(subject.to_string(), tenant.to_string());
    }

    /// Resolves the caller. A presented but unknown credential is refused (never downgraded to the
    /// sandbox tenant).
    pub fn resolve(
        &self,
        conn: Option<&ConnInfo>,
        authorization: Option<&str>,
    ) -> Result<Caller, Error> {
        if let Some(h) = authorization {
            let token = h
                .strip_prefix("Bearer ")
                .or_else(|| h.strip_prefix("bearer "))
                .ok_or_else(|| unauth("the Authorization header must be \"Bearer <token>\""))?;
            let digest: [u8; 32] = Sha256::digest(token.trim().as_bytes()).into();
            return match self.tokens.get(&digest) {
                Some(t) => Ok(Caller {
                    tenant: t.clone(),
                    authenticated_by: "bearer".into(),
                }),
                None => Err(unauth("unknown bearer token")),
            };
        }
        if let Some(subject) = conn.and_then(|c| c.client_subject.as_deref()) {
            return match self.subjects.get(subject) {
                Some(t) => Ok(Caller {
                    tenant: t.clone(),
                    authenticated_by: format!("mtls:{subject}"),
                }),
                None => Err(unauth("the client certificate is bound to no tenant")),
            };
        }
        if let (Some(t), Some(c)) = (&self.sandbox_tenant, conn)
            && c.peer.ip().is_loopback()
        {
            return Ok(Caller {
                tenant: t.clone(),
                authenticated_by: "sandbox-loopback".into(),
            });
        }
        Err(unauth(
            "authentication required: a client certificate or a bearer token",
        ))
    }
}

fn unauth(msg: &str) -> Error {
    Error::new(Origin::Client, Reason::Unauthenticated, msg)
}

/// Axum middleware: resolves the caller for every API route (gRPC included) or answers 401 / gRPC
/// UNAUTHENTICATED. Health, readiness, metrics and the OpenAPI document are public.
pub async fn layer(auth: Arc<Authenticator>, mut req: Request, next: Next) -> Response {
    let path = req.uri().path();
    if matches!(path, "/healthz" | "/readyz" | "/metrics" | "/openapi.json")
        || path.starts_with("/grpc.health.v1.")
        || path.starts_with("/grpc.reflection.")
    {
        return next.run(req).await;
    }
    let conn = req.extensions().get::<ConnInfo>().cloned();
    let authz = req
        .headers()
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    match auth.resolve(conn.as_ref(), authz.as_deref()) {
        Ok(caller) => {
            req.extensions_mut().insert(caller);
            next.run(req).await
        }
        Err(e) => {
            let grpc = req
                .headers()
                .get(http::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.starts_with("application/grpc"));
            if grpc {
                crate::grpc::status_response(&e)
            } else {
                crate::http::problem(&e)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn(ip: &str, subject: Option<&str>) -> ConnInfo {
        ConnInfo {
            peer: format!("{ip}:5000").parse().expect("addr"),
            client_subject: subject.map(str::to_string),
        }
    }

    #[test]
    fn tokens_subjects_and_sandbox() {
        let mut a = Authenticator::new(Some("mecs".into()));
        a.add_token("tok-a", "a");
        a.add_subject("CN=api-client b", "b");
        let c = a.resolve(Some(&conn("127.0.0.1", None)), Some("Bearer tok-a"));
        assert_eq!(c.expect("token").tenant, "a");
        let c = a.resolve(Some(&conn("10.0.0.1", Some("CN=api-client b"))), None);
        assert_eq!(c.expect("cert").tenant, "b");
        let c = a.resolve(Some(&conn("127.0.0.1", None)), None);
        assert_eq!(c.expect("sandbox").tenant, "mecs");
        // Unknown credentials are refused, never downgraded to the sandbox tenant.
        assert!(
            a.resolve(Some(&conn("127.0.0.1", None)), Some("Bearer nope"))
                .is_err()
        );
        assert!(
            a.resolve(Some(&conn("127.0.0.1", Some("CN=x"))), None)
                .is_err()
        );
        // The sandbox identity is for loopback only.
        assert!(a.resolve(Some(&conn("10.0.0.1", None)), None).is_err());
        let strict = Authenticator::new(None);
        assert!(
            strict
                .resolve(Some(&conn("127.0.0.1", None)), None)
                .is_err()
        );
    }
}
