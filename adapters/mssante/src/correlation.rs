//! Per-recipient notification correlation (mssante.md §5.4–5.5, README §2), modelled on the Direct
//! Project message monitor: timeout counted from the send and never reset, a synthesised failure
//! on timeout, final states never reopened, late notifications recorded but never applied.
//!
//! Pure: the caller stores [`Tracking`] (never only in memory, engineering rule 14), feeds each
//! correlated event with `now`, persists the new tracking and the records in one transaction.

use time::{Duration, OffsetDateTime};

use crate::ans::AnsError;
use crate::inbound::{AnsErrorMail, Dsn, Mdn, NonDeliveryNotice};
use crate::mime::xtext_decode;
use crate::outgoing::normalize_message_id;
use crate::reply::{EnhancedCode, dsn_failure_reason};
use crate::report::{DispositionType, DsnAction};

/// Delivery states; names are the proto `DeliveryStatus` suffixes in lower case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    Queued,
    InFlight,
    Sent,
    Delivered,
    Read,
    Stored,
    Rejected,
    Failed,
    Expired,
    Cancelled,
}

impl State {
    pub const ALL: [State; 10] = [
        State::Queued,
        State::InFlight,
        State::Sent,
        State::Delivered,
        State::Read,
        State::Stored,
        State::Rejected,
        State::Failed,
        State::Expired,
        State::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            State::Queued => "queued",
            State::InFlight => "in_flight",
            State::Sent => "sent",
            State::Delivered => "delivered",
            State::Read => "read",
            State::Stored => "stored",
            State::Rejected => "rejected",
            State::Failed => "failed",
            State::Expired => "expired",
            State::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<State> {
        State::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// States no event may leave.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            State::Read
                | State::Stored
                | State::Rejected
                | State::Failed
                | State::Expired
                | State::Cancelled
        )
    }
}

/// Notification windows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// After the `250`, with DSN requested, before `expired` (1 h).
    pub delivery: Duration,
    /// After `delivered`, with MDN requested, before the delivery is final without `read` (7 d).
    pub read: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            delivery: Duration::hours(1),
            read: Duration::days(7),
        }
    }
}

/// The persisted correlation state of one delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tracking {
    pub state: State,
    pub dsn_requested: bool,
    pub mdn_requested: bool,
    /// `250` + delivery timeout, possibly moved to a DSN's `Will-Retry-Until`.
    pub delivery_deadline: Option<OffsetDateTime>,
    /// Set on `delivered` when an MDN was requested.
    pub read_deadline: Option<OffsetDateTime>,
    pub read_window_closed: bool,
    /// Delivered only on a `relayed` DSN (weaker than `delivered`).
    pub relayed_only: bool,
    /// The one `late_delivery` event after `expired` was recorded.
    pub late_delivery_recorded: bool,
    /// Last MDN disposition applied (`Delivery.disposition`).
    pub disposition: Option<String>,
    /// Failure or rejection reason (`DeliveryError.reason`), and the ANS code when rejected.
    pub reason: Option<String>,
    pub ans_code: Option<u16>,
}

impl Tracking {
    /// The tracking right after the `250` that accepted the message at `sent_at`.
    pub fn after_send(
        sent_at: OffsetDateTime,
        dsn_requested: bool,
        mdn_requested: bool,
        timeouts: &Timeouts,
    ) -> Tracking {
        Tracking {
            state: State::Sent,
            dsn_requested,
            mdn_requested,
            delivery_deadline: dsn_requested.then(|| sent_at + timeouts.delivery),
            read_deadline: None,
            read_window_closed: false,
            relayed_only: false,
            late_delivery_recorded: false,
            disposition: None,
            reason: None,
            ans_code: None,
        }
    }

    /// Final for WatchStatus: terminal, or delivered with no MDN to wait for (README §2).
    /// From then on every notification is late: recorded, never applied.
    pub fn is_final(&self) -> bool {
        self.state.is_terminal()
            || (self.state == State::Delivered && (!self.mdn_requested || self.read_window_closed))
    }

    /// `sent` to an operator without DSN and no MDN requested: nothing will confirm it
    /// ("unconfirmed", §5.5). Not final: a default-NOTIFY bounce can still fail it.
    pub fn is_unconfirmed(&self) -> bool {
        self.state == State::Sent && !self.dsn_requested && !self.mdn_requested
    }

    fn closed(&self) -> bool {
        self.is_final()
    }

    /// The earliest `now` at which a [`Event::Tick`] can change something.
    pub fn next_timer(&self) -> Option<OffsetDateTime> {
        match self.state {
            State::Sent if self.dsn_requested => self.delivery_deadline,
            State::Delivered if self.mdn_requested && !self.read_window_closed => {
                self.read_deadline
            }
            _ => None,
        }
    }
}

/// A correlated notification, or a timer tick.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Dsn {
        action: DsnAction,
        status: Option<EnhancedCode>,
        will_retry_until: Option<OffsetDateTime>,
    },
    Mdn {
        disposition: DispositionType,
        /// `error` modifier (ANS or RFC form).
        error: bool,
        ans_error: Option<AnsError>,
    },
    /// `[KO Intégration système !]` / `[Erreur d’intégration !]` mail.
    AnsErrorMail { ans_error: Option<AnsError> },
    /// A non-RFC 3464 bounce naming our Message-ID.
    NonDelivery,
    /// Timer check at `now`.
    Tick,
}

impl Event {
    fn is_success(&self) -> bool {
        match self {
            Event::Dsn { action, .. } => matches!(
                action,
                DsnAction::Delivered | DsnAction::Relayed | DsnAction::Expanded
            ),
            Event::Mdn {
                disposition, error, ..
            } => {
                !error
                    && matches!(
                        disposition,
                        DispositionType::Displayed
                            | DispositionType::Processed
                            | DispositionType::Dispatched
                    )
            }
            _ => false,
        }
    }

    fn describe(&self) -> String {
        match self {
            Event::Dsn { action, status, .. } => {
                let a = match action {
                    DsnAction::Failed => "failed",
                    DsnAction::Delayed => "delayed",
                    DsnAction::Delivered => "delivered",
                    DsnAction::Relayed => "relayed",
                    DsnAction::Expanded => "expanded",
                    DsnAction::Other(o) => o.as_str(),
                };
                match status {
                    Some(s) => format!("dsn {a} {s}"),
                    None => format!("dsn {a}"),
                }
            }
            Event::Mdn {
                disposition,
                error,
                ans_error,
            } => match (ans_error, error) {
                (Some(e), _) => format!("mdn {}/error {}", disposition.as_str(), e.code),
                (None, true) => format!("mdn {}/error", disposition.as_str()),
                (None, false) => format!("mdn {}", disposition.as_str()),
            },
            Event::AnsErrorMail { ans_error } => match ans_error {
                Some(e) => format!("ans error mail {}", e.code),
                None => "ans error mail".to_owned(),
            },
            Event::NonDelivery => "non-delivery notice".to_owned(),
            Event::Tick => "tick".to_owned(),
        }
    }
}

/// What a record means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordKind {
    /// The state changed.
    Transition,
    /// Applied without a state change (disposition recorded, deadline moved...).
    Noted,
    /// Same notification as one already applied.
    Duplicate,
    /// After a final state: stored only.
    Late,
    /// The one success notice after `expired`.
    LateDelivery,
    /// `delivery_timeout`: no DSN in time, synthesised failure (→ `expired`).
    DeliveryTimeout,
    /// `read_timeout`: no MDN in time; stays `delivered`, now final.
    ReadTimeout,
}

impl RecordKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RecordKind::Transition => "transition",
            RecordKind::Noted => "noted",
            RecordKind::Duplicate => "duplicate",
            RecordKind::Late => "late",
            RecordKind::LateDelivery => "late_delivery",
            RecordKind::DeliveryTimeout => "delivery_timeout",
            RecordKind::ReadTimeout => "read_timeout",
        }
    }
}

/// One row for the delivery's event log (`DeliveryEvent`: from, to, detail, late).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub kind: RecordKind,
    pub from: State,
    pub to: State,
    pub detail: String,
    pub late: bool,
    pub at: OffsetDateTime,
}

/// Result of [`apply`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub tracking: Tracking,
    pub records: Vec<Record>,
}

/// Applies `event` received (or checked) at `now`.
pub fn apply(t: &Tracking, event: &Event, now: OffsetDateTime, timeouts: &Timeouts) -> Outcome {
    let mut n = t.clone();
    let mut records = Vec::new();
    let from = t.state;
    let mut rec = |kind: RecordKind, to: State, detail: String, late: bool| {
        records.push(Record {
            kind,
            from,
            to,
            detail,
            late,
            at: now,
        })
    };

    if t.closed() {
        if matches!(event, Event::Tick) {
            return Outcome {
                tracking: n,
                records,
            };
        }
        if t.state == State::Expired && event.is_success() && !t.late_delivery_recorded {
            n.late_delivery_recorded = true;
            rec(
                RecordKind::LateDelivery,
                from,
                format!("late_delivery: {}", event.describe()),
                true,
            );
        } else {
            rec(RecordKind::Late, from, event.describe(), true);
        }
        return Outcome {
            tracking: n,
            records,
        };
    }

    // Open: queued/in_flight/sent (before delivery) or delivered waiting for an MDN.
    let before_delivery = matches!(t.state, State::Queued | State::InFlight | State::Sent);
    match event {
        Event::Tick => {
            if t.state == State::Sent
                && t.dsn_requested
                && t.delivery_deadline.is_some_and(|d| now >= d)
            {
                n.state = State::Expired;
                n.reason = Some("delivery_timeout".to_owned());
                rec(
                    RecordKind::DeliveryTimeout,
                    State::Expired,
                    "delivery_timeout: no DSN before the deadline (synthesised failure)".to_owned(),
                    false,
                );
            } else if t.state == State::Delivered
                && t.mdn_requested
                && t.read_deadline.is_some_and(|d| now >= d)
            {
                n.read_window_closed = true;
                rec(
                    RecordKind::ReadTimeout,
                    State::Delivered,
                    "read_timeout: no MDN, not a failure".to_owned(),
                    false,
                );
            }
        }
        Event::Dsn {
            action,
            status,
            will_retry_until,
        } => match action {
            DsnAction::Delivered | DsnAction::Relayed | DsnAction::Expanded => {
                if before_delivery {
                    deliver(&mut n, now, timeouts);
                    n.relayed_only = *action == DsnAction::Relayed;
                    let mut d = event.describe();
                    if n.relayed_only {
                        d.push_str(" (weaker: the final mailbox did not confirm)");
                    }
                    rec(RecordKind::Transition, State::Delivered, d, false);
                } else if t.relayed_only && *action == DsnAction::Delivered {
                    n.relayed_only = false;
                    rec(
                        RecordKind::Noted,
                        from,
                        format!("{} (confirms relayed)", event.describe()),
                        false,
                    );
                } else {
                    rec(RecordKind::Duplicate, from, event.describe(), false);
                }
            }
            DsnAction::Delayed => {
                if let (Some(w), Some(d)) = (will_retry_until, t.delivery_deadline)
                    && *w > d
                    && t.state == State::Sent
                {
                    n.delivery_deadline = Some(*w);
                }
                rec(RecordKind::Noted, from, event.describe(), false);
            }
            DsnAction::Failed => {
                n.state = State::Failed;
                n.reason = Some(dsn_failure_reason(*status).to_owned());
                rec(
                    RecordKind::Transition,
                    State::Failed,
                    event.describe(),
                    false,
                );
            }
            DsnAction::Other(_) => rec(RecordKind::Noted, from, event.describe(), false),
        },
        Event::Mdn {
            disposition,
            error,
            ans_error,
        } => {
            n.disposition = Some(disposition.as_str().to_owned());
            if *error || ans_error.is_some() {
                n.state = State::Rejected;
                n.ans_code = ans_error.as_ref().map(|e| e.code);
                n.reason = Some("integration_error".to_owned());
                rec(
                    RecordKind::Transition,
                    State::Rejected,
                    event.describe(),
                    false,
                );
            } else {
                match disposition {
                    DispositionType::Displayed => {
                        n.state = State::Read;
                        rec(RecordKind::Transition, State::Read, event.describe(), false);
                    }
                    DispositionType::Processed | DispositionType::Dispatched if before_delivery => {
                        deliver(&mut n, now, timeouts);
                        rec(
                            RecordKind::Transition,
                            State::Delivered,
                            event.describe(),
                            false,
                        );
                    }
                    // deleted, denied, failed (no MDN could be made: not a delivery failure),
                    // processed/dispatched once delivered: recorded only.
                    _ => rec(RecordKind::Noted, from, event.describe(), false),
                }
            }
        }
        Event::AnsErrorMail { ans_error } => {
            n.state = State::Rejected;
            n.ans_code = ans_error.as_ref().map(|e| e.code);
            n.reason = Some("integration_error".to_owned());
            rec(
                RecordKind::Transition,
                State::Rejected,
                event.describe(),
                false,
            );
        }
        Event::NonDelivery => {
            n.state = State::Failed;
            n.reason = Some("non_delivery_notice".to_owned());
            rec(
                RecordKind::Transition,
                State::Failed,
                event.describe(),
                false,
            );
        }
    }
    Outcome {
        tracking: n,
        records,
    }
}

fn deliver(n: &mut Tracking, now: OffsetDateTime, timeouts: &Timeouts) {
    n.state = State::Delivered;
    if n.mdn_requested {
        n.read_deadline = Some(now + timeouts.read);
    }
}

// ---- correlation keys ----

/// What identifies the delivery an event belongs to, best key first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Key {
    /// DSN: `Original-Envelope-Id` (= ENVID = delivery id) and `Original-Recipient`
    /// (else `Final-Recipient`).
    Envelope {
        envelope_id: String,
        recipient: Option<String>,
    },
    /// Our Message-ID (MDN `Original-Message-ID`, returned headers, or found in a bounce).
    MessageId {
        message_id: String,
        recipient: Option<String>,
    },
}

/// The facts of a delivery that keys are matched against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRef<'a> {
    pub delivery_id: &'a str,
    pub message_id: &'a str,
    pub recipient: &'a str,
}

impl Key {
    /// True when the key designates `d` (recipient compared when the key has one).
    pub fn matches(&self, d: &DeliveryRef<'_>) -> bool {
        let rcpt_ok = |r: &Option<String>| {
            r.as_deref().is_none_or(|r| {
                r.eq_ignore_ascii_case(d.recipient)
                    || xtext_decode(r).eq_ignore_ascii_case(d.recipient)
            })
        };
        match self {
            Key::Envelope {
                envelope_id,
                recipient,
            } => {
                (envelope_id == d.delivery_id || xtext_decode(envelope_id) == d.delivery_id)
                    && rcpt_ok(recipient)
            }
            Key::MessageId {
                message_id,
                recipient,
            } => {
                normalize_message_id(message_id)
                    .eq_ignore_ascii_case(&normalize_message_id(d.message_id))
                    && rcpt_ok(recipient)
            }
        }
    }
}

/// An event with the keys to find its delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Correlated {
    pub keys: Vec<Key>,
    pub event: Event,
    /// MDN `Final-Recipient` (may differ after ORG→APP forwarding: accepted, recorded).
    pub final_recipient: Option<String>,
}

/// One correlated event per recipient block of a DSN.
pub fn from_dsn(dsn: &Dsn) -> Vec<Correlated> {
    let envid = dsn.status.message.original_envelope_id.clone();
    dsn.status
        .recipients
        .iter()
        .map(|r| {
            let recipient = r
                .original_recipient
                .as_ref()
                .or(r.final_recipient.as_ref())
                .map(|a| a.address.clone());
            let mut keys = Vec::new();
            if let Some(e) = &envid {
                keys.push(Key::Envelope {
                    envelope_id: e.clone(),
                    recipient: recipient.clone(),
                });
            }
            if let Some(m) = &dsn.returned_message_id {
                keys.push(Key::MessageId {
                    message_id: m.clone(),
                    recipient: recipient.clone(),
                });
            }
            Correlated {
                keys,
                event: Event::Dsn {
                    action: r.action.clone(),
                    status: r.status,
                    will_retry_until: r.will_retry_until,
                },
                final_recipient: r.final_recipient.as_ref().map(|a| a.address.clone()),
            }
        })
        .collect()
}

/// The MDN's event, keyed by `Original-Message-ID` (else the returned original's Message-ID).
pub fn from_mdn(mdn: &Mdn) -> Correlated {
    let n = &mdn.notification;
    let recipient = n.original_recipient.as_ref().map(|a| a.address.clone());
    let mut keys = Vec::new();
    for id in n.original_message_id.iter().chain(&mdn.returned_message_id) {
        let k = Key::MessageId {
            message_id: id.clone(),
            recipient: recipient.clone(),
        };
        if !keys.contains(&k) {
            keys.push(k);
        }
    }
    Correlated {
        keys,
        event: Event::Mdn {
            disposition: n.disposition.disposition_type.clone(),
            error: n.disposition.is_error(),
            ans_error: n.disposition.ans_error.clone(),
        },
        final_recipient: n.final_recipient.as_ref().map(|a| a.address.clone()),
    }
}

/// An ANS error mail's event, keyed by every Message-ID it refers to.
pub fn from_ans_error(mail: &AnsErrorMail) -> Correlated {
    Correlated {
        keys: ids_to_keys(&mail.referenced_message_ids),
        event: Event::AnsErrorMail {
            ans_error: mail.error.clone(),
        },
        final_recipient: None,
    }
}

/// A non-standard bounce's event, keyed by every Message-ID it refers to.
pub fn from_non_delivery(n: &NonDeliveryNotice) -> Correlated {
    Correlated {
        keys: ids_to_keys(&n.referenced_message_ids),
        event: Event::NonDelivery,
        final_recipient: None,
    }
}

fn ids_to_keys(ids: &[String]) -> Vec<Key> {
    ids.iter()
        .map(|m| Key::MessageId {
            message_id: m.clone(),
            recipient: None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const T0: OffsetDateTime = datetime!(2026-03-01 09:15:00 UTC);

    fn dsn(action: DsnAction) -> Event {
        Event::Dsn {
            action,
            status: EnhancedCode::parse("2.0.0"),
            will_retry_until: None,
        }
    }

    fn mdn(d: DispositionType) -> Event {
        Event::Mdn {
            disposition: d,
            error: false,
            ans_error: None,
        }
    }

    #[test]
    fn names_match_proto() {
        for s in State::ALL {
            assert_eq!(State::parse(s.as_str()), Some(s));
        }
        assert_eq!(State::Sent.as_str(), "sent");
        assert_eq!(State::parse("SENT"), None);
    }

    #[test]
    fn happy_path_with_read() {
        let to = Timeouts::default();
        let t = Tracking::after_send(T0, true, true, &to);
        let o = apply(
            &t,
            &dsn(DsnAction::Delivered),
            T0 + Duration::minutes(1),
            &to,
        );
        assert_eq!(o.tracking.state, State::Delivered);
        assert!(!o.tracking.is_final());
        let o = apply(
            &o.tracking,
            &mdn(DispositionType::Processed),
            T0 + Duration::minutes(2),
            &to,
        );
        assert_eq!(o.tracking.state, State::Delivered);
        assert_eq!(o.records[0].kind, RecordKind::Noted);
        assert_eq!(o.tracking.disposition.as_deref(), Some("processed"));
        let o = apply(
            &o.tracking,
            &mdn(DispositionType::Displayed),
            T0 + Duration::hours(3),
            &to,
        );
        assert_eq!(o.tracking.state, State::Read);
        assert!(o.tracking.is_final());
    }

    #[test]
    fn delivery_timeout_expires_then_one_late_delivery() {
        let to = Timeouts::default();
        let t = Tracking::after_send(T0, true, false, &to);
        let o = apply(&t, &Event::Tick, T0 + Duration::minutes(59), &to);
        assert_eq!(o.tracking.state, State::Sent);
        assert!(o.records.is_empty());
        let o = apply(&t, &Event::Tick, T0 + Duration::hours(1), &to);
        assert_eq!(o.tracking.state, State::Expired);
        assert_eq!(o.records[0].kind, RecordKind::DeliveryTimeout);
        assert_eq!(o.tracking.reason.as_deref(), Some("delivery_timeout"));
        let late = apply(
            &o.tracking,
            &dsn(DsnAction::Delivered),
            T0 + Duration::days(2),
            &to,
        );
        assert_eq!(late.tracking.state, State::Expired);
        assert_eq!(late.records[0].kind, RecordKind::LateDelivery);
        assert!(late.records[0].late);
        let again = apply(
            &late.tracking,
            &dsn(DsnAction::Delivered),
            T0 + Duration::days(3),
            &to,
        );
        assert_eq!(again.records[0].kind, RecordKind::Late);
    }

    #[test]
    fn no_dsn_requested_never_expires() {
        let to = Timeouts::default();
        let t = Tracking::after_send(T0, false, true, &to);
        let o = apply(&t, &Event::Tick, T0 + Duration::days(30), &to);
        assert_eq!(o.tracking.state, State::Sent);
        // A default-NOTIFY bounce still fails it.
        let f = Event::Dsn {
            action: DsnAction::Failed,
            status: EnhancedCode::parse("5.1.1"),
            will_retry_until: None,
        };
        let o = apply(&t, &f, T0 + Duration::minutes(5), &to);
        assert_eq!(o.tracking.state, State::Failed);
        assert_eq!(o.tracking.reason.as_deref(), Some("recipient_rejected"));
    }

    #[test]
    fn delayed_moves_deadline() {
        let to = Timeouts::default();
        let t = Tracking::after_send(T0, true, false, &to);
        let w = T0 + Duration::hours(20);
        let ev = Event::Dsn {
            action: DsnAction::Delayed,
            status: EnhancedCode::parse("4.4.1"),
            will_retry_until: Some(w),
        };
        let o = apply(&t, &ev, T0 + Duration::minutes(30), &to);
        assert_eq!(o.tracking.delivery_deadline, Some(w));
        let o2 = apply(&o.tracking, &Event::Tick, T0 + Duration::hours(2), &to);
        assert_eq!(o2.tracking.state, State::Sent);
        let o3 = apply(&o.tracking, &Event::Tick, w, &to);
        assert_eq!(o3.tracking.state, State::Expired);
    }

    #[test]
    fn timers() {
        let to = Timeouts::default();
        let t = Tracking::after_send(T0, true, true, &to);
        assert_eq!(t.next_timer(), Some(T0 + Duration::hours(1)));
        let d = apply(
            &t,
            &dsn(DsnAction::Delivered),
            T0 + Duration::minutes(2),
            &to,
        );
        assert_eq!(
            d.tracking.next_timer(),
            Some(T0 + Duration::minutes(2) + Duration::days(7))
        );
        let no_dsn = Tracking::after_send(T0, false, false, &to);
        assert_eq!(no_dsn.next_timer(), None);
        assert!(no_dsn.is_unconfirmed() && !no_dsn.is_final());
    }

    #[test]
    fn read_timeout_does_not_fail() {
        let to = Timeouts::default();
        let t = Tracking::after_send(T0, true, true, &to);
        let o = apply(&t, &dsn(DsnAction::Relayed), T0, &to);
        assert!(o.tracking.relayed_only);
        let o = apply(&o.tracking, &Event::Tick, T0 + Duration::days(7), &to);
        assert_eq!(o.tracking.state, State::Delivered);
        assert_eq!(o.records[0].kind, RecordKind::ReadTimeout);
        assert!(o.tracking.is_final());
        let late = apply(
            &o.tracking,
            &mdn(DispositionType::Displayed),
            T0 + Duration::days(8),
            &to,
        );
        assert_eq!(late.tracking.state, State::Delivered);
        assert!(late.records[0].late);
    }

    #[test]
    fn mdn_error_rejects_and_failed_type_does_not() {
        let to = Timeouts::default();
        let t = Tracking::after_send(T0, true, true, &to);
        let failed_type = mdn(DispositionType::Failed);
        let o = apply(&t, &failed_type, T0, &to);
        assert_eq!(o.tracking.state, State::Sent);
        let err = Event::Mdn {
            disposition: DispositionType::Processed,
            error: true,
            ans_error: AnsError::parse("902^Identifiant patient inconnu"),
        };
        let o = apply(&t, &err, T0, &to);
        assert_eq!(o.tracking.state, State::Rejected);
        assert_eq!(o.tracking.ans_code, Some(902));
        let d = apply(&t, &mdn(DispositionType::Deleted), T0, &to);
        assert_eq!(d.tracking.state, State::Sent);
    }
}
