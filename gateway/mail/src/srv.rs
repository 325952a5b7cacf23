//! DNS SRV discovery of the operator's submission and IMAP servers (RFC 6186, RFC 8314 §5.1;
//! mssante.md §1.1, REQ ECO.1.1.9): `_submission._tcp` / `_imap._tcp` (STARTTLS, what MSSanté
//! requires), else `_submissions._tcp` / `_imaps._tcp` (implicit TLS). A target of `.` says the
//! service is not offered. The target is resolved with the same resolver, once: the endpoint holds
//! until the next start, like an explicit one.
//!
//! The server certificate is checked against the SRV target. RFC 7817 would have the mail domain
//! itself unless the answer is DNSSEC-validated, which no operator certificate names; the risk it
//! guards against (a forged answer pointing elsewhere) needs here a server certificate from the
//! IGC-Santé CAs, the only anchors trusted.

use std::net::SocketAddr;

use hickory_resolver::config::{NameServerConfigGroup, ResolverConfig};
use hickory_resolver::name_server::TokioConnectionProvider;
use hickory_resolver::{ResolveErrorKind, TokioResolver};

use crate::{MailError, TlsMode};

/// The DNS resolver discovery uses.
pub type Resolver = TokioResolver;

/// What to look for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    Submission,
    Imap,
}

impl Service {
    /// Owner-name prefixes, in order of preference, with the TLS mode each implies.
    fn names(self) -> [(&'static str, TlsMode); 2] {
        match self {
            Service::Submission => [
                ("_submission._tcp", TlsMode::StartTls),
                ("_submissions._tcp", TlsMode::Implicit),
            ],
            Service::Imap => [
                ("_imap._tcp", TlsMode::StartTls),
                ("_imaps._tcp", TlsMode::Implicit),
            ],
        }
    }
}

/// A discovered server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discovered {
    /// The SRV target, without the final dot: the name the certificate must carry.
    pub host: String,
    pub port: u16,
    pub tls: TlsMode,
    /// The target's address, from the same resolver.
    pub addr: SocketAddr,
}

/// One SRV answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SrvRecord {
    pub priority: u16,
    pub weight: u16,
    pub port: u16,
    /// Without the final dot; empty for `.` (service not offered).
    pub target: String,
}

/// RFC 2782 selection of the first server to use: the lowest priority, then by weight, a record
/// of weight w chosen with probability w / Σw (weight-0 records only when all are 0). `roll`
/// returns a number in `0..=n`. None when the answer is `.` alone or empty.
pub fn select(records: &[SrvRecord], mut roll: impl FnMut(u32) -> u32) -> Option<&SrvRecord> {
    let usable: Vec<&SrvRecord> = records.iter().filter(|r| !r.target.is_empty()).collect();
    let best = usable.iter().map(|r| r.priority).min()?;
    let tier: Vec<&SrvRecord> = usable.into_iter().filter(|r| r.priority == best).collect();
    let total: u32 = tier.iter().map(|r| u32::from(r.weight)).sum();
    if total == 0 {
        return tier.first().copied();
    }
    let mut pick = roll(total - 1);
    for r in &tier {
        let w = u32::from(r.weight);
        if pick < w {
            return Some(r);
        }
        pick -= w;
    }
    tier.last().copied()
}

fn dns_err(field: &'static str, e: impl std::fmt::Display) -> MailError {
    MailError::Config {
        field,
        reason: format!("DNS: {e}"),
    }
}

/// A resolver on `servers` (UDP and TCP), or on the system's configuration when empty.
pub fn resolver(servers: &[SocketAddr]) -> Result<TokioResolver, MailError> {
    if servers.is_empty() {
        return TokioResolver::builder_tokio()
            .map(|b| b.build())
            .map_err(|e| dns_err("dns", e));
    }
    let mut group = NameServerConfigGroup::new();
    for s in servers {
        group.merge(NameServerConfigGroup::from_ips_clear(
            &[s.ip()],
            s.port(),
            true,
        ));
    }
    let cfg = ResolverConfig::from_parts(None, Vec::new(), group);
    Ok(TokioResolver::builder_with_config(cfg, TokioConnectionProvider::default()).build())
}

async fn lookup_srv(r: &TokioResolver, name: &str) -> Result<Vec<SrvRecord>, MailError> {
    match r.srv_lookup(name).await {
        Ok(l) => Ok(l
            .iter()
            .map(|s| SrvRecord {
                priority: s.priority(),
                weight: s.weight(),
                port: s.port(),
                target: s.target().to_ascii().trim_end_matches('.').to_owned(),
            })
            .collect()),
        Err(e) if matches!(e.kind(), ResolveErrorKind::Proto(p) if p.is_no_records_found()) => {
            Ok(Vec::new())
        }
        Err(e) => Err(dns_err("discover", format!("{name}: {e}"))),
    }
}

/// Finds `service` for the mail `domain`. `Ok(None)`: no SRV record (or only `.`); an error is a
/// DNS failure (the caller says which setting to give instead).
pub async fn discover(
    r: &TokioResolver,
    domain: &str,
    service: Service,
) -> Result<Option<Discovered>, MailError> {
    let domain = domain.trim_end_matches('.');
    for (prefix, tls) in service.names() {
        let records = lookup_srv(r, &format!("{prefix}.{domain}.")).await?;
        // Spread over equal-priority servers without a random generator: the clock's nanoseconds.
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let Some(rec) = select(&records, |n| seed % (n + 1)) else {
            continue;
        };
        let ip = r
            .lookup_ip(format!("{}.", rec.target))
            .await
            .map_err(|e| dns_err("discover", format!("{}: {e}", rec.target)))?
            .iter()
            .next()
            .ok_or_else(|| dns_err("discover", format!("{}: no address", rec.target)))?;
        return Ok(Some(Discovered {
            host: rec.target.clone(),
            port: rec.port,
            tls,
            addr: SocketAddr::new(ip, rec.port),
        }));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(priority: u16, weight: u16, target: &str) -> SrvRecord {
        SrvRecord {
            priority,
            weight,
            port: 587,
            target: target.into(),
        }
    }

    #[test]
    fn the_lowest_priority_wins_and_weights_share_it() {
        let rs = [rec(20, 100, "backup"), rec(10, 1, "a"), rec(10, 3, "b")];
        let mut seen = std::collections::HashMap::new();
        for n in 0..4 {
            let r = select(&rs, |max| {
                assert_eq!(max, 3);
                n
            })
            .expect("one");
            *seen.entry(r.target.clone()).or_insert(0) += 1;
        }
        assert_eq!(seen.get("a"), Some(&1));
        assert_eq!(seen.get("b"), Some(&3));
        assert_eq!(seen.get("backup"), None);
    }

    #[test]
    fn a_dot_target_means_no_service_and_zero_weights_still_pick() {
        assert_eq!(select(&[rec(0, 0, "")], |_| 0), None);
        assert_eq!(select(&[], |_| 0), None);
        let rs = [rec(5, 0, "x"), rec(5, 0, "y")];
        assert_eq!(select(&rs, |_| 0).map(|r| r.target.as_str()), Some("x"));
    }
}
