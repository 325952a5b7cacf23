//! Messages/s through the embedded operator with warm pooled connections (10 KB and 1 MiB).
//! `cargo run --release -p passerelle-sim-mail --example mail_bench [messages_10k] [messages_1m] [concurrency]`

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let small = args.first().copied().unwrap_or(2000);
    let large = args.get(1).copied().unwrap_or(200);
    let concurrency = args.get(2).copied().unwrap_or(2);
    for (bytes, n) in [(10 * 1024, small), (1024 * 1024, large)] {
        let r = passerelle_sim_mail::bench::run(bytes, n, concurrency).await?;
        println!(
            "{{\"message_bytes\":{},\"messages\":{},\"concurrency\":{},\"seconds\":{:.3},\"messages_per_second\":{:.1},\"connections_opened\":{}}}",
            r.message_bytes,
            r.messages,
            r.concurrency,
            r.seconds,
            r.messages_per_second,
            r.connections_opened
        );
    }
    Ok(())
}
