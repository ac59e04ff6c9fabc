//! Read replicas (`database.read_urls`): a private PostgreSQL primary with a hot standby.
//! Gets and Lists are served by the standby while it keeps up; a caller reads its own
//! writes at once (its reads wait for a replica that has replayed them, or go to the
//! primary); a standby whose replay is paused falls behind the bound and is left out, so
//! reads see a change another API replica wrote; a standby that stops is left out, and
//! used again once it is back and caught up.

use std::time::{Duration, Instant};

use integration::standby::PrimaryAndStandby;
use integration::{loopback_settings, Scrape, ServerThread};
use results_grpc::pb::v1alpha2 as pb;
use results_grpc::pb::v1alpha2::results_client::ResultsClient;
use tonic::transport::Channel;
use tonic::Code;

const DATABASE: &str = "results";
const DEADLINE: Duration = Duration::from_secs(60);

type Client = ResultsClient<Channel>;

async fn client(server: &ServerThread) -> Client {
    let channel = Channel::from_shared(format!("http://{}", server.grpc_addr()))
        .unwrap()
        .connect()
        .await
        .unwrap();
    Client::new(channel)
}

async fn scrape(server: &ServerThread) -> Scrape {
    let url = format!("http://{}/metrics", server.rest_addr());
    Scrape::parse(&reqwest::get(url).await.unwrap().text().await.unwrap())
}

async fn reads(server: &ServerThread, target: &str) -> f64 {
    (scrape(server).await)
        .value("results_api_db_reads_total", &[("target", target)])
        .unwrap_or(0.0)
}

/// Waits until the replica's last check found it `up` (1) or not (0).
async fn replica_becomes(server: &ServerThread, up: f64) {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let now = scrape(server).await;
        if now.value("results_api_read_replica_up", &[("replica", "0")]) == Some(up) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "replica never {up}: {}",
            now.text()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn create(client: &mut Client, name: &str) -> pb::Result {
    client
        .create_result(pb::CreateResultRequest {
            parent: "ns".into(),
            result: Some(pb::Result {
                name: format!("ns/results/{name}"),
                ..Default::default()
            }),
        })
        .await
        .expect("create")
        .into_inner()
}

async fn get(client: &mut Client, name: &str) -> Result<pb::Result, tonic::Status> {
    client
        .get_result(pb::GetResultRequest {
            name: format!("ns/results/{name}"),
        })
        .await
        .map(|r| r.into_inner())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_go_to_a_standby_that_keeps_up() {
    let pair = PrimaryAndStandby::start();
    pair.create_database(DATABASE);
    let mut settings = loopback_settings(&pair.primary_url(DATABASE), "replicas");
    settings.database.read_urls = vec![pair.standby_url(DATABASE)];
    settings.database.max_replica_lag_ms = 300;
    settings.database.replica_check_ms = 50;
    let server = ServerThread::start(settings.clone()).expect("start");
    let mut api = client(&server).await;
    replica_becomes(&server, 1.0).await;

    // Read-your-writes: every read right after the caller's own write sees it.
    for i in 0..40 {
        let created = create(&mut api, &format!("own{i}")).await;
        let read = get(&mut api, &format!("own{i}"))
            .await
            .expect("its own write");
        assert_eq!(read.uid, created.uid);
    }

    // Once the standby has replayed them, reads are the standby's.
    let deadline = Instant::now() + DEADLINE;
    loop {
        let before = reads(&server, "replica").await;
        get(&mut api, "own39").await.unwrap();
        if reads(&server, "replica").await > before {
            break;
        }
        assert!(Instant::now() < deadline, "the standby never served a read");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (replica, primary) = (
        reads(&server, "replica").await,
        reads(&server, "primary").await,
    );
    for i in 0..20 {
        get(&mut api, &format!("own{i}")).await.unwrap();
    }
    assert_eq!(reads(&server, "replica").await, replica + 20.0);
    assert_eq!(reads(&server, "primary").await, primary);

    // Replay paused: a write through another API replica reaches the standby but is not
    // applied; once the lag passes the bound, reads go to the primary and see it.
    pair.on_standby(DATABASE, "SELECT pg_wal_replay_pause()");
    let mut other_settings = settings.clone();
    other_settings.database.read_urls.clear();
    let other = ServerThread::start(other_settings).expect("another API replica");
    let mut other_api = client(&other).await;
    create(&mut other_api, "elsewhere").await;
    let deadline = Instant::now() + DEADLINE;
    loop {
        match get(&mut api, "elsewhere").await {
            Ok(_) => break,
            Err(e) => assert_eq!(e.code(), Code::NotFound, "{e:?}"),
        }
        assert!(
            Instant::now() < deadline,
            "the lagging standby was never left out"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let lag = (scrape(&server).await)
        .value("results_api_read_replica_lag_seconds", &[("replica", "0")])
        .unwrap();
    assert!(lag > 0.3, "left out only beyond the bound: lag {lag}");
    let primary = reads(&server, "primary").await;
    get(&mut api, "own1").await.unwrap();
    assert_eq!(reads(&server, "primary").await, primary + 1.0);

    // Replay resumed: the standby catches up and serves again.
    pair.on_standby(DATABASE, "SELECT pg_wal_replay_resume()");
    let deadline = Instant::now() + DEADLINE;
    loop {
        let before = reads(&server, "replica").await;
        get(&mut api, "elsewhere").await.unwrap();
        if reads(&server, "replica").await > before {
            break;
        }
        assert!(Instant::now() < deadline, "the standby never came back");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // The standby stops: reads fail over to the primary at once (before a check has found
    // it gone), then it is left out; back, it is used again.
    pair.stop_standby();
    for i in 0..10 {
        get(&mut api, &format!("own{i}"))
            .await
            .expect("the primary answers");
    }
    replica_becomes(&server, 0.0).await;
    pair.start_standby();
    replica_becomes(&server, 1.0).await;
    let deadline = Instant::now() + DEADLINE;
    loop {
        let before = reads(&server, "replica").await;
        get(&mut api, "own2").await.unwrap();
        if reads(&server, "replica").await > before {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the restarted standby was never used"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
