//! Property tests: the correlation state machine (terminal states final, late events never change
//! the state, at most one late_delivery, timers behave) and the subject encoder round trip.

use passerelle_mssante::ans::AnsError;
use passerelle_mssante::cda::Environment;
use passerelle_mssante::correlation::{self, Event, RecordKind, State, Timeouts, Tracking};
use passerelle_mssante::inbound::{self, Limits};
use passerelle_mssante::outgoing::{self, OutgoingMessage, Patient};
use passerelle_mssante::reply::EnhancedCode;
use passerelle_mssante::report::{DispositionType, DsnAction};
use proptest::prelude::*;
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

use crate::common::*;

fn action() -> impl Strategy<Value = DsnAction> {
    prop_oneof![
        Just(DsnAction::Failed),
        Just(DsnAction::Delayed),
        Just(DsnAction::Delivered),
        Just(DsnAction::Relayed),
        Just(DsnAction::Expanded),
        Just(DsnAction::Other("x-weird".into())),
    ]
}

fn disposition() -> impl Strategy<Value = DispositionType> {
    prop_oneof![
        Just(DispositionType::Displayed),
        Just(DispositionType::Processed),
        Just(DispositionType::Dispatched),
        Just(DispositionType::Deleted),
        Just(DispositionType::Denied),
        Just(DispositionType::Failed),
    ]
}

fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        (action(), prop::option::of(0i64..72), prop::bool::ANY).prop_map(|(a, w, perm)| {
            Event::Dsn {
                action: a,
                status: EnhancedCode::parse(if perm { "5.1.1" } else { "4.4.1" }),
                will_retry_until: w
                    .map(|h| datetime!(2026-03-01 09:15:00 UTC) + Duration::hours(h)),
            }
        }),
        (
            disposition(),
            prop::bool::ANY,
            prop::option::of(900u16..=906)
        )
            .prop_map(|(d, e, c)| {
                Event::Mdn {
                    disposition: d,
                    error: e,
                    ans_error: c.and_then(|c| AnsError::parse(&c.to_string())),
                }
            }),
        prop::option::of(900u16..=906).prop_map(|c| Event::AnsErrorMail {
            ans_error: c.and_then(|c| AnsError::parse(&c.to_string()))
        }),
        Just(Event::NonDelivery),
        Just(Event::Tick),
        Just(Event::Tick),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn state_machine_invariants(
        dsn in prop::bool::ANY,
        mdn in prop::bool::ANY,
        steps in prop::collection::vec((event(), 0i64..(3 * 24 * 60)), 1..40),
    ) {
        let to = Timeouts::default();
        let t0 = datetime!(2026-03-01 09:15:00 UTC);
        let mut t = Tracking::after_send(t0, dsn, mdn, &to);
        let mut now: OffsetDateTime = t0;
        let mut late_deliveries = 0;
        for (ev, minutes) in steps {
            now += Duration::minutes(minutes);
            let before = t.clone();
            let o = correlation::apply(&t, &ev, now, &to);
            // Records describe the step exactly.
            for r in &o.records {
                prop_assert_eq!(r.from, before.state);
                prop_assert_eq!(r.at, now);
                if r.late {
                    prop_assert_eq!(r.to, r.from);
                }
            }
            if o.records.iter().any(|r| r.kind != RecordKind::Transition && r.kind != RecordKind::DeliveryTimeout) {
                prop_assert_eq!(o.tracking.state, before.state);
            }
            late_deliveries += o.records.iter().filter(|r| r.kind == RecordKind::LateDelivery).count();
            // Terminal states are final; late events never change the state.
            if before.state.is_terminal() {
                prop_assert_eq!(o.tracking.state, before.state);
                if !matches!(ev, Event::Tick) {
                    prop_assert!(o.records.iter().all(|r| r.late));
                }
            }
            if before.is_final() {
                prop_assert_eq!(o.tracking.state, before.state);
            }
            // Timers: only delivery_timeout moves a state, to expired, from sent, with DSN.
            if matches!(ev, Event::Tick) && o.tracking.state != before.state {
                prop_assert_eq!(before.state, State::Sent);
                prop_assert!(before.dsn_requested);
                prop_assert_eq!(o.tracking.state, State::Expired);
                prop_assert!(before.delivery_deadline.is_some_and(|d| now >= d));
            }
            // read_timeout never fails a delivery.
            if o.records.iter().any(|r| r.kind == RecordKind::ReadTimeout) {
                prop_assert_eq!(o.tracking.state, State::Delivered);
                prop_assert!(o.tracking.is_final());
            }
            // Without DSN requested, nothing expires.
            if !dsn {
                prop_assert_ne!(o.tracking.state, State::Expired);
            }
            t = o.tracking;
        }
        prop_assert!(late_deliveries <= 1);
        if late_deliveries == 1 {
            prop_assert_eq!(t.state, State::Expired);
        }
    }

    #[test]
    fn subjects_round_trip_and_fold(
        label in "[ -~àéèêëîïôùûüçœÀÉÈÇ«»’]{1,120}",
        name in "[A-Za-zéèÉ' -]{1,40}",
        given in "[A-Za-zéïëÈ-]{1,30}",
    ) {
        prop_assume!(!label.trim().is_empty() && !name.trim().is_empty() && !given.trim().is_empty());
        let s = mecs_sender();
        let m = OutgoingMessage {
            sender: &s,
            message_uuid: uuid::Uuid::from_u128(0x0195f1c2_7a3e_7cc0_9a51_3c1f0e2b9d41),
            date: datetime!(2026-03-01 09:15:00 UTC),
            to: addr("crip@cd93.mssante.test"),
            label,
            patient: Patient { birth_name: name, first_given_name: given, birth_date: None },
            xdm: None,
            pdfs: vec![],
            read_receipt: false,
            replaces: vec![],
            environment: Environment::Test,
            max_message_bytes: outgoing::DEFAULT_MAX_MESSAGE_BYTES,
        };
        let b = outgoing::build(&m);
        prop_assert!(b.is_ok());
        let b = b.unwrap_or_else(|e| panic!("{e}"));
        let text = String::from_utf8(b.bytes.clone()).unwrap_or_default();
        prop_assert!(text.is_ascii());
        let header = text.split("\r\n\r\n").next().unwrap_or("");
        for line in header.split("\r\n") {
            prop_assert!(line.len() <= 78, "{}", line);
        }
        let parsed = inbound::parse(&b.bytes, &Limits::default());
        prop_assert!(parsed.is_ok());
        let parsed = parsed.unwrap_or_else(|e| panic!("{e}"));
        prop_assert_eq!(parsed.headers.subject.as_deref(), Some(b.subject.as_str()));
    }
}
