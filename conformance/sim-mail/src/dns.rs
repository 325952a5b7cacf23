//! A DNS zone on loopback UDP for discovery tests: answers SRV and A queries from a fixed record
//! list (authoritative; NXDOMAIN for unknown names, an empty answer for a known name without the
//! asked type). Messages are read and written by hickory-proto, the resolver's own codec.

use std::net::{Ipv4Addr, SocketAddr};

use hickory_resolver::proto::op::{Message, MessageType, ResponseCode};
use hickory_resolver::proto::rr::rdata::{A, SRV};
use hickory_resolver::proto::rr::{Name, RData, Record};
use tokio::net::UdpSocket;

/// One record of the zone.
#[derive(Debug, Clone)]
pub struct ZoneRecord {
    name: Name,
    data: RData,
}

fn name(s: &str) -> std::io::Result<Name> {
    let fq = if s.ends_with('.') {
        s.to_owned()
    } else {
        format!("{s}.")
    };
    Name::from_ascii(fq).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))
}

impl ZoneRecord {
    /// `_submission._tcp.example.` SRV; `target` `"."` says the service is not offered.
    pub fn srv(
        owner: &str,
        priority: u16,
        weight: u16,
        port: u16,
        target: &str,
    ) -> std::io::Result<Self> {
        Ok(Self {
            name: name(owner)?,
            data: RData::SRV(SRV::new(priority, weight, port, name(target)?)),
        })
    }

    pub fn a(owner: &str, ip: Ipv4Addr) -> std::io::Result<Self> {
        Ok(Self {
            name: name(owner)?,
            data: RData::A(A(ip)),
        })
    }
}

/// A running zone; dropped = stopped.
#[derive(Debug)]
pub struct DnsZone {
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for DnsZone {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl DnsZone {
    /// Binds at once (call it inside a Tokio runtime): the zone answers from when it returns.
    pub fn start(records: Vec<ZoneRecord>) -> std::io::Result<Self> {
        let std_sock = std::net::UdpSocket::bind("127.0.0.1:0")?;
        std_sock.set_nonblocking(true)?;
        let sock = UdpSocket::from_std(std_sock)?;
        let addr = sock.local_addr()?;
        let task = tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            loop {
                let Ok((n, peer)) = sock.recv_from(&mut buf).await else {
                    return;
                };
                let Some(reply) = answer(&records, &buf[..n]) else {
                    continue;
                };
                let _ = sock.send_to(&reply, peer).await;
            }
        });
        Ok(Self { addr, task })
    }
}

fn answer(records: &[ZoneRecord], query: &[u8]) -> Option<Vec<u8>> {
    let q = Message::from_vec(query).ok()?;
    let mut r = Message::new();
    r.set_id(q.id())
        .set_message_type(MessageType::Response)
        .set_op_code(q.op_code())
        .set_recursion_desired(q.recursion_desired())
        .set_recursion_available(true)
        .set_authoritative(true);
    let mut code = ResponseCode::NoError;
    for query in q.queries() {
        r.add_query(query.clone());
        let owned: Vec<&ZoneRecord> = records.iter().filter(|z| &z.name == query.name()).collect();
        if owned.is_empty() {
            code = ResponseCode::NXDomain;
        }
        for z in owned
            .into_iter()
            .filter(|z| z.data.record_type() == query.query_type())
        {
            r.add_answer(Record::from_rdata(z.name.clone(), 60, z.data.clone()));
        }
    }
    r.set_response_code(code);
    r.to_vec().ok()
}
