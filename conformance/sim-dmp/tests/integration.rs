//! Simulator fixtures and control handle (the request checks are driven end to end from
//! `gateway/dmp-client/tests`, which has the client).

use passerelle_dmp::checks::{DmpParameters, is_dmp_minor};
use passerelle_dmp::ins::ins_key_valid;
use passerelle_sim_dmp::{DmpState, Fault, Transaction, fixtures, ins_with_key, testkit};
use time::macros::date;

#[test]
fn fixtures_cover_dmp_md_section_8() {
    let today = date!(2026 - 03 - 02);
    let f = fixtures(today, 18);
    let p = DmpParameters::default();
    let get = |n: &str| f.iter().find(|x| x.name == n).expect(n);
    for x in &f {
        assert!(ins_key_valid(&x.ins), "{}", x.name);
        assert_eq!(x.ins_oid, "1.2.250.1.213.1.4.10");
    }
    assert!(!is_dmp_minor(get("adult").birth_date, today, &p));
    assert!(is_dmp_minor(get("child9").birth_date, today, &p));
    assert_eq!(
        passerelle_dmp::checks::age_years(get("child9").birth_date, today),
        9
    );
    assert!(is_dmp_minor(get("majority_minus_1d").birth_date, today, &p));
    assert!(!is_dmp_minor(get("majority_plus_1d").birth_date, today, &p));
    assert!(get("secret").secret_expected);
    assert_eq!(get("no_dmp").state, DmpState::NotFound);
    assert_eq!(get("closed").state, DmpState::Closed);
    assert_eq!(get("interdit").authorisation, "INTERDIT");
    let mut inses: Vec<_> = f.iter().map(|x| x.ins.clone()).collect();
    inses.dedup();
    assert_eq!(inses.len(), f.len());
    assert!(ins_key_valid(&ins_with_key("2120693066001")));
}

#[tokio::test]
async fn starts_on_loopback_and_takes_faults() {
    let cfg = testkit::sim_config(fixtures(date!(2026 - 03 - 02), 18)).expect("config");
    let sim = passerelle_sim_dmp::start(cfg).await.expect("start");
    assert!(sim.addr().ip().is_loopback());
    assert_ne!(sim.addr().port(), 0);
    assert!(sim.base_url().ends_with("/si-dmp-server/v2/services"));
    sim.inject(Transaction::Iti41, Fault::RegistryBusy);
    sim.clear_faults();
    assert!(sim.entries().is_empty());
    // A plain TCP client without TLS gets nothing recorded.
    let mut s = tokio::net::TcpStream::connect(sim.addr())
        .await
        .expect("tcp");
    use tokio::io::AsyncWriteExt;
    s.write_all(b"POST / HTTP/1.1\r\n\r\n")
        .await
        .expect("write");
    drop(s);
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert!(sim.exchanges().is_empty());
}
