//! Idle connections cannot exhaust a server's file handles (issue 16,
//! item 6): a scheduler under `ulimit -n 256` holding 300 TCP connections
//! that never speak HTTP/2 still runs a normal job within seconds, and
//! closes the silent connections once the handshake deadline passes.
//! Before the accept guard it accepted until `EMFILE`, then spun on it and
//! never answered the job.

use std::time::{Duration, Instant};

use passer::{Client, ClientConfig, JobSpec};
use passer_tests::cluster::wait_serving;
use passer_tests::{Cluster, Process, ANY_PORT};
use tokio::io::AsyncReadExt;

const IDLE_CONNECTIONS: usize = 300;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_neither_starve_jobs_nor_stay_open() -> anyhow::Result<()> {
    let nodes = Cluster::builder().schedulers(0).node_monitors(1).start().await?;
    let args = ["--listen", ANY_PORT, "--node-monitors", &nodes.node_addrs[0]].map(str::to_owned);
    let (scheduler, ready) = Process::start_server_under(
        "scheduler",
        &["prlimit", "--nofile=256:256", "--"],
        "passer-scheduler",
        &args,
        &[],
    )
    .await?;
    let address = ready.address("grpc")?;
    wait_serving(&address, &scheduler).await?;

    let mut idle = Vec::with_capacity(IDLE_CONNECTIONS);
    for _ in 0..IDLE_CONNECTIONS {
        idle.push(tokio::net::TcpStream::connect(&address).await?);
    }

    let started = Instant::now();
    let client = Client::new(ClientConfig::new([address.clone()]))?;
    let job = tokio::time::timeout(Duration::from_secs(20), client.run(JobSpec::uniform("past-idle", "echo", 20, "x")))
        .await
        .map_err(|_| anyhow::anyhow!("no answer in 20 s with {IDLE_CONNECTIONS} idle connections open"))?;
    let results = job?;
    let took = started.elapsed();
    eprintln!("20 tasks past {IDLE_CONNECTIONS} idle connections took {took:?}");
    assert_eq!(results.len(), 20);
    assert!(results.iter().all(|result| result.succeeded()), "{results:?}");
    // Behind the cap, the job's connection waits for the first idle ones to
    // time out (5 s by default).
    assert!(took < Duration::from_secs(10), "the job took {took:?}");

    // Every silent connection is closed by the server: reads end (EOF or
    // reset) after whatever the server sent first (its HTTP/2 settings).
    let closes = idle.into_iter().map(|mut stream| async move {
        let mut buffer = [0u8; 1024];
        let until_closed = async {
            while let Ok(read) = stream.read(&mut buffer).await {
                if read == 0 {
                    break;
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(15), until_closed).await.is_ok()
    });
    let closed = futures::future::join_all(closes).await.into_iter().filter(|closed| *closed).count();
    assert_eq!(closed, IDLE_CONNECTIONS, "only {closed} idle connections closed within 15 s");
    let log = std::fs::read_to_string(&scheduler.log)?;
    assert!(log.contains("connection cap reached"), "the cap is logged:\n{}", scheduler.log_tail());
    Ok(())
}
