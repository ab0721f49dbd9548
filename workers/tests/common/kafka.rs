//! Brokers for the Kafka suites: librdkafka's in-process mock cluster (3 brokers, hosted by a
//! thread of the test process; the `ferry` children connect to it over TCP), and tansu, a
//! separate Kafka-compatible broker that `ops/test.sh` starts and names in `FERRY_TEST_BROKERS`.

use std::sync::mpsc;
use std::sync::OnceLock;

use rdkafka::mocking::MockCluster;
pub use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};

/// Ferry's topics with their partition counts, as `Topics` names them.
fn topics(prefix: &str) -> [(String, i32); 3] {
    [
        (format!("{prefix}log"), 1),
        (format!("{prefix}blobs"), 1),
        (format!("{prefix}work"), 12),
    ]
}

/// What a test asks of the mock cluster's thread (the cluster is not `Send`).
enum Request {
    Topics(String),
    Down(i32),
    Up(i32),
    Errors(RDKafkaApiKey, Vec<RDKafkaRespErr>),
}

/// A mock cluster of 3 brokers, hosted by a thread of its own (the cluster is not `Send`); it
/// lives until this handle is dropped.
pub struct Cluster {
    address: String,
    requests: mpsc::Sender<(Request, mpsc::Sender<()>)>,
}

impl Cluster {
    /// Starts a cluster of its own, for a test that takes brokers down.
    pub fn start() -> Cluster {
        let (ready, address) = mpsc::channel();
        let (requests, incoming) = mpsc::channel::<(Request, mpsc::Sender<()>)>();
        std::thread::spawn(move || {
            let cluster = MockCluster::new(3).unwrap();
            ready.send(cluster.bootstrap_servers()).unwrap();
            for (request, done) in incoming {
                match request {
                    // The mock cluster does not serve CreateTopics: topics are made through
                    // its API.
                    Request::Topics(prefix) => {
                        for (name, partitions) in topics(&prefix) {
                            cluster.create_topic(&name, partitions, 3).unwrap();
                        }
                    }
                    Request::Down(broker) => cluster.broker_down(broker).unwrap(),
                    Request::Up(broker) => cluster.broker_up(broker).unwrap(),
                    Request::Errors(api, errors) => cluster.request_errors(api, &errors),
                }
                let _ = done.send(());
            }
        });
        Cluster {
            address: address.recv().unwrap(),
            requests,
        }
    }

    fn ask(&self, request: Request) {
        let (done, wait) = mpsc::channel();
        self.requests.send((request, done)).unwrap();
        wait.recv().unwrap();
    }

    /// The cluster's address, with Ferry's topics under `prefix` made.
    pub fn with_topics(&self, prefix: &str) -> String {
        self.ask(Request::Topics(prefix.to_string()));
        self.address.clone()
    }

    /// Takes broker `id` (1, 2 or 3) down, or brings it back up.
    pub fn broker(&self, id: i32, up: bool) {
        self.ask(if up {
            Request::Up(id)
        } else {
            Request::Down(id)
        });
    }

    /// Makes the cluster answer the next requests of `api` with `errors`, in order.
    pub fn errors(&self, api: RDKafkaApiKey, errors: &[RDKafkaRespErr]) {
        self.ask(Request::Errors(api, errors.to_vec()));
    }
}

/// The address of the mock cluster the tests of this process share, with Ferry's topics
/// under `prefix` made. Its brokers stay up: a fault test starts its own [`Cluster`].
pub fn mock(prefix: &str) -> String {
    static SHARED: OnceLock<Cluster> = OnceLock::new();
    SHARED.get_or_init(Cluster::start).with_topics(prefix)
}

/// tansu's address, when `ops/test.sh` (or `.ci/run`) started it; `None` otherwise, and the
/// test says it did not run.
pub fn tansu() -> Option<String> {
    match std::env::var("FERRY_TEST_BROKERS") {
        Ok(address) if !address.is_empty() => Some(address),
        _ => {
            eprintln!(
                "FERRY_TEST_BROKERS is not set: skipping the tansu run (ops/test.sh sets it)"
            );
            None
        }
    }
}

/// A topic prefix no other test (of this process or another) uses.
pub fn prefix(test: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("{test}-{}-{n}.", std::process::id())
}
