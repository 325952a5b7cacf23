//! Embedded DMP simulator (dmp.md §8): HTTPS with client-certificate authentication, the four
//! paths of §1.2, VIHF / metadata / content / signature / confidentiality / RPLC / deletion checks,
//! in-memory state with the §8 patient fixtures, answers shaped like the DMP's (RegistryResponse
//! errors with codes, SOAP 1.2 Faults, never an empty body except injected faults), and fault
//! injection at runtime through [`SimHandle`].
#![forbid(unsafe_code)]

mod checks;
mod server;
pub mod testkit;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use passerelle_dmp::DmpParameters;
pub use passerelle_dmp::Transaction;
use time::{Date, OffsetDateTime};

pub use server::start;

/// Simulator errors (start-up only: request problems are DMP answers).
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// Socket error.
    #[error("simulator I/O: {0}")]
    Io(#[from] std::io::Error),
    /// TLS configuration.
    #[error("simulator TLS: {0}")]
    Tls(#[from] passerelle_tls::TlsError),
    /// Signature trust anchors.
    #[error("simulator trust anchors: {0}")]
    Trust(#[from] passerelle_xmlsig::XmlSigError),
}

/// The DMP state of a test patient.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DmpState {
    /// Active DMP.
    Active,
    /// No DMP: TD0.2 answers `NF`.
    NotFound,
    /// Closed DMP.
    Closed,
}

/// A test patient (INS under the test OID `1.2.250.1.213.1.4.10`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Patient {
    /// Fixture name (test names).
    pub name: &'static str,
    /// INS (15 characters, valid key).
    pub ins: String,
    /// INS OID.
    pub ins_oid: String,
    /// Birth date known to the DMP (TD0.2 birthTime).
    pub birth_date: Date,
    /// DMP state.
    pub state: DmpState,
    /// Secret connection expected: calls without the VIHF confidentiality code are refused.
    pub secret_expected: bool,
    /// TD0.2 AUTORISATION value.
    pub authorisation: &'static str,
}

/// Test INS OID.
pub const TEST_INS_OID: &str = "1.2.250.1.213.1.4.10";

/// Builds a valid INS from a 13-character body.
pub fn ins_with_key(body13: &str) -> String {
    let n: u64 = body13.parse().unwrap_or(0);
    format!("{body13}{:02}", 97 - n % 97)
}

fn years_before(d: Date, years: i32) -> Date {
    // 29 February → 28 February in a common year.
    Date::from_calendar_date(d.year() - years, d.month(), d.day())
        .or_else(|_| Date::from_calendar_date(d.year() - years, d.month(), d.day() - 1))
        .unwrap_or(d)
}

/// The dmp.md §8 fixtures for `today` and `age_majorite`: adult; child of 9; minors at
/// `age-majorite` ± 1 day; secret expected; NF; closed; INTERDIT; birthTime mismatch (the DMP
/// knows another birth date than the local one: use `local_birth_date` of that fixture = its
/// birth_date + 1 day).
pub fn fixtures(today: Date, age_majorite: u8) -> Vec<Patient> {
    let maj = i32::from(age_majorite);
    let p = |name, body: &str, birth_date, state, secret_expected, authorisation| Patient {
        name,
        ins: ins_with_key(body),
        ins_oid: TEST_INS_OID.to_owned(),
        birth_date,
        state,
        secret_expected,
        authorisation,
    };
    let at_majority = years_before(today, maj);
    vec![
        p(
            "adult",
            "1980075112345",
            years_before(today, 40),
            DmpState::Active,
            false,
            "VALIDE",
        ),
        p(
            "child9",
            "2160993066001",
            years_before(today, 9),
            DmpState::Active,
            false,
            "VALIDE",
        ),
        p(
            "majority_minus_1d",
            "2080993066002",
            at_majority.next_day().unwrap_or(at_majority),
            DmpState::Active,
            false,
            "VALIDE",
        ),
        p(
            "majority_plus_1d",
            "1080993066003",
            at_majority.previous_day().unwrap_or(at_majority),
            DmpState::Active,
            false,
            "VALIDE",
        ),
        p(
            "secret",
            "2130993066004",
            years_before(today, 14),
            DmpState::Active,
            true,
            "VALIDE",
        ),
        p(
            "no_dmp",
            "1150993066005",
            years_before(today, 11),
            DmpState::NotFound,
            false,
            "NON_EXISTE",
        ),
        p(
            "closed",
            "2150993066006",
            years_before(today, 11),
            DmpState::Closed,
            false,
            "VALIDE",
        ),
        p(
            "interdit",
            "1140993066007",
            years_before(today, 12),
            DmpState::Active,
            false,
            "INTERDIT",
        ),
        p(
            "birth_mismatch",
            "2140993066008",
            years_before(today, 12),
            DmpState::Active,
            false,
            "VALIDE",
        ),
    ]
}

/// An injected fault, consumed by the next request of its transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Wait, then answer normally.
    Latency(Duration),
    /// HTTP 500 with a `soap:Receiver` Fault.
    ServerFault,
    /// Empty body with this status (502, 503).
    Empty(u16),
    /// Never answer (until the client gives up).
    Hang,
    /// HTTP 200 with malformed XML.
    MalformedXml,
    /// RegistryResponse Failure `XDSRegistryBusy`.
    RegistryBusy,
    /// Process and commit the request, then drop the connection without a reply.
    CommitThenDrop,
}

/// Status of a stored entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryStatus {
    /// Approved.
    Approved,
    /// Replaced (RPLC).
    Deprecated,
    /// Logically deleted (ITI-57).
    Deleted,
}

/// A stored DocumentEntry (clinical or signature).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEntry {
    /// `urn:uuid:…` (new per version).
    pub entry_uuid: String,
    /// `urn:uuid:…` of the document.
    pub logical_id: String,
    /// uniqueId.
    pub unique_id: String,
    /// Status.
    pub status: EntryStatus,
    /// patientId CX.
    pub patient_id: String,
    /// typeCode.
    pub type_code: String,
    /// confidentialityCode values (visibility).
    pub confidentiality: Vec<String>,
    /// Struct_IdNat of the author institution.
    pub author_structure: String,
    /// Submission set uniqueId.
    pub submission_set: String,
    /// True for the XAdES signature document.
    pub is_signature: bool,
    /// The exact bytes.
    pub bytes: Vec<u8>,
}

/// One request as received (for tests): transaction, tenant, HTTP status answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exchange {
    /// Transaction (None for an unknown path).
    pub transaction: Option<Transaction>,
    /// Struct_IdNat of the TLS client certificate.
    pub tenant: String,
    /// Status answered (0 = no answer).
    pub status: u16,
    /// First error code answered, if any.
    pub error: Option<String>,
    /// The SOAP envelope received (MTOM root part or plain body), when the request was processed.
    pub envelope: Vec<u8>,
}

/// Configuration of a simulator instance.
#[derive(Debug)]
pub struct SimConfig {
    /// The server identity (`dmp.test` certificate + key).
    pub identity: passerelle_tls::Identity,
    /// CAs TLS client certificates must chain to (the test root).
    pub client_trust: passerelle_tls::TrustAnchors,
    /// DER of the CAs that issue ORG_SIGN certificates (the organisations CA).
    pub signing_cas: Vec<Vec<u8>>,
    /// DMP parameters.
    pub params: DmpParameters,
    /// Patients.
    pub patients: Vec<Patient>,
    /// Fixed clock (None = system time).
    pub clock: Option<OffsetDateTime>,
}

#[derive(Debug, Default)]
pub(crate) struct State {
    pub(crate) patients: Vec<Patient>,
    pub(crate) entries: Vec<StoredEntry>,
    pub(crate) submission_sets: Vec<String>,
    pub(crate) faults: VecDeque<(Transaction, Fault)>,
    pub(crate) exchanges: Vec<Exchange>,
    pub(crate) clock: Option<OffsetDateTime>,
}

/// Runtime control of a running simulator.
#[derive(Debug, Clone)]
pub struct SimHandle {
    pub(crate) state: Arc<Mutex<State>>,
    pub(crate) addr: SocketAddr,
}

impl SimHandle {
    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        let mut g = match self.state.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        f(&mut g)
    }

    /// The loopback address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Base URL for clients (`https://127.0.0.1:PORT/si-dmp-server/v2/services`).
    pub fn base_url(&self) -> String {
        format!("https://{}/si-dmp-server/v2/services", self.addr)
    }

    /// Queues a fault for the next request of `transaction`.
    pub fn inject(&self, transaction: Transaction, fault: Fault) {
        self.with(|s| s.faults.push_back((transaction, fault)));
    }

    /// Removes queued faults.
    pub fn clear_faults(&self) {
        self.with(|s| s.faults.clear());
    }

    /// Fixes the clock (None = system time).
    pub fn set_clock(&self, t: Option<OffsetDateTime>) {
        self.with(|s| s.clock = t);
    }

    /// Adds or replaces a patient.
    pub fn put_patient(&self, p: Patient) {
        self.with(|s| {
            s.patients.retain(|q| q.ins != p.ins);
            s.patients.push(p);
        });
    }

    /// Stored entries.
    pub fn entries(&self) -> Vec<StoredEntry> {
        self.with(|s| s.entries.clone())
    }

    /// Requests seen so far.
    pub fn exchanges(&self) -> Vec<Exchange> {
        self.with(|s| s.exchanges.clone())
    }

    /// Forgets documents and exchanges (patients kept).
    pub fn reset(&self) {
        self.with(|s| {
            s.entries.clear();
            s.submission_sets.clear();
            s.exchanges.clear();
            s.faults.clear();
        });
    }
}
