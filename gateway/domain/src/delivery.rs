//! Delivery state machine: one model for both channels (specs README §2).
//!
//! `queued → in_flight → sent → delivered → read`, plus the terminal states `stored` (DMP accepted),
//! `rejected` (MSSanté integration refused), `failed` (permanent), `expired` (retry window or
//! notification timeout exhausted) and `cancelled`. Terminal states are final: a late notification is
//! recorded by the store, never applied. The only way out of `failed`/`expired` is an explicit
//! operator retry (engineering.md §5 rule 4), modelled as its own transition.

use std::fmt;
use std::str::FromStr;

/// State of one delivery (one recipient × one channel). Names equal the proto `DeliveryStatus`
/// suffixes, lowercased.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DeliveryState {
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

/// Why a state change happens; `can_transition` answers for the ordinary machine, `Retry` is the
/// operator's reprocessing of a failed or expired delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransitionKind {
    /// Worker, notification, timeout or caller cancel.
    Normal,
    /// Explicit operator retry (Retry / RetryAll).
    Retry,
}

impl DeliveryState {
    pub const ALL: [DeliveryState; 10] = [
        DeliveryState::Queued,
        DeliveryState::InFlight,
        DeliveryState::Sent,
        DeliveryState::Delivered,
        DeliveryState::Read,
        DeliveryState::Stored,
        DeliveryState::Rejected,
        DeliveryState::Failed,
        DeliveryState::Expired,
        DeliveryState::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Queued => "queued",
            DeliveryState::InFlight => "in_flight",
            DeliveryState::Sent => "sent",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Read => "read",
            DeliveryState::Stored => "stored",
            DeliveryState::Rejected => "rejected",
            DeliveryState::Failed => "failed",
            DeliveryState::Expired => "expired",
            DeliveryState::Cancelled => "cancelled",
        }
    }

    /// Final states: nothing but an operator retry (failed, expired) leaves them.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            DeliveryState::Read
                | DeliveryState::Stored
                | DeliveryState::Rejected
                | DeliveryState::Failed
                | DeliveryState::Expired
                | DeliveryState::Cancelled
        )
    }

    /// Waiting for or undergoing a send attempt (counts against the queue capacity).
    pub fn is_pending(self) -> bool {
        matches!(self, DeliveryState::Queued | DeliveryState::InFlight)
    }

    /// Whether Watch may stop following this delivery. `delivered` is final when no read receipt
    /// is expected, or when the MDN window has passed (`mdn_window_passed`).
    pub fn is_final_for_watch(self, read_receipt_expected: bool, mdn_window_passed: bool) -> bool {
        match self {
            DeliveryState::Delivered => !read_receipt_expected || mdn_window_passed,
            s => s.is_terminal(),
        }
    }

    /// Whether an operator retry may requeue a delivery in this state.
    pub fn is_retryable(self) -> bool {
        matches!(self, DeliveryState::Failed | DeliveryState::Expired)
    }

    /// Ordinary transitions of the machine (worker results, notifications, timeouts, cancel).
    pub fn can_transition(from: DeliveryState, to: DeliveryState) -> bool {
        use DeliveryState::*;
        match from {
            // failed/expired at dispatch: e.g. payload unusable, window already over.
            Queued => matches!(to, InFlight | Failed | Expired | Cancelled),
            // InFlight → InFlight: a lease expired and another worker took the delivery again;
            // InFlight → Queued: a temporary failure, retried after a backoff;
            // InFlight → Cancelled: a stale decision at dispatch, or the caller cancelled after
            // the worker's lease expired.
            InFlight => matches!(
                to,
                InFlight | Queued | Sent | Stored | Failed | Expired | Cancelled
            ),
            // A DSN may be missing and the MDN arrive first; `expired` = notification timeout.
            Sent => matches!(to, Delivered | Read | Rejected | Failed | Expired),
            Delivered => matches!(to, Read | Rejected),
            Read | Stored | Rejected | Failed | Expired | Cancelled => false,
        }
    }

    /// Transitions including the operator's retry of failed/expired deliveries.
    pub fn can_transition_by(kind: TransitionKind, from: DeliveryState, to: DeliveryState) -> bool {
        match kind {
            TransitionKind::Normal => DeliveryState::can_transition(from, to),
            TransitionKind::Retry => from.is_retryable() && to == DeliveryState::Queued,
        }
    }
}

impl fmt::Display for DeliveryState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is not a delivery state or channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownName {
    pub what: &'static str,
    pub name: String,
}

impl fmt::Display for UnknownName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown {}: {:?}", self.what, self.name)
    }
}

impl std::error::Error for UnknownName {}

impl FromStr for DeliveryState {
    type Err = UnknownName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DeliveryState::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| UnknownName {
                what: "delivery state",
                name: s.to_owned(),
            })
    }
}

/// Gateway channels of a delivery (proto `Channel` without UNSPECIFIED).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Channel {
    Mssante,
    Mes,
    Dmp,
}

impl Channel {
    pub const ALL: [Channel; 3] = [Channel::Mssante, Channel::Mes, Channel::Dmp];

    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Mssante => "mssante",
            Channel::Mes => "mes",
            Channel::Dmp => "dmp",
        }
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Channel {
    type Err = UnknownName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Channel::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| UnknownName {
                what: "channel",
                name: s.to_owned(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_match_proto_suffixes() {
        for s in DeliveryState::ALL {
            assert_eq!(s.as_str().parse::<DeliveryState>(), Ok(s));
            assert_eq!(s.as_str(), s.as_str().to_lowercase());
        }
        assert_eq!(DeliveryState::InFlight.as_str(), "in_flight");
        assert!("IN_FLIGHT".parse::<DeliveryState>().is_err());
        for c in Channel::ALL {
            assert_eq!(c.as_str().parse::<Channel>(), Ok(c));
        }
    }

    #[test]
    fn terminal_states_have_no_ordinary_exit() {
        for from in DeliveryState::ALL.into_iter().filter(|s| s.is_terminal()) {
            for to in DeliveryState::ALL {
                assert!(!DeliveryState::can_transition(from, to), "{from} -> {to}");
            }
        }
    }

    #[test]
    fn happy_paths_are_allowed() {
        use DeliveryState::*;
        for (a, b) in [
            (Queued, InFlight),
            (InFlight, Sent),
            (Sent, Delivered),
            (Delivered, Read),
            (InFlight, Stored),
            (InFlight, Queued),
            (Sent, Rejected),
        ] {
            assert!(DeliveryState::can_transition(a, b), "{a} -> {b}");
        }
        assert!(!DeliveryState::can_transition(Queued, Sent));
        assert!(!DeliveryState::can_transition(Delivered, Queued));
        assert!(!DeliveryState::can_transition(Sent, Cancelled));
    }

    #[test]
    fn retry_only_from_failed_or_expired_to_queued() {
        use DeliveryState::*;
        for from in DeliveryState::ALL {
            for to in DeliveryState::ALL {
                let ok = DeliveryState::can_transition_by(TransitionKind::Retry, from, to);
                assert_eq!(ok, matches!(from, Failed | Expired) && to == Queued);
            }
        }
    }

    #[test]
    fn delivered_is_final_for_watch_only_without_pending_read_receipt() {
        let d = DeliveryState::Delivered;
        assert!(!d.is_terminal());
        assert!(d.is_final_for_watch(false, false));
        assert!(!d.is_final_for_watch(true, false));
        assert!(d.is_final_for_watch(true, true));
        assert!(!DeliveryState::Sent.is_final_for_watch(false, true));
        assert!(DeliveryState::Failed.is_final_for_watch(true, false));
    }
}
