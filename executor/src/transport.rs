//! The broker hop between controller and agents: Redis Streams for each invoker's queue and for
//! each run's results, expiring keys for heartbeats and for the lease of each running run.
//! Every call has a timeout; a dropped connection is re-opened with backoff (100 ms doubling to
//! 2 s) for a while (`reconnect_for`) before the call fails. A broker that came back with
//! another server id was restarted and lost its data: `epoch` counts such restarts, so that
//! controller and agents can re-send and re-read what the restart lost.

use std::time::{Duration, Instant};

use redis::streams::{StreamReadOptions, StreamReadReply};
use redis::{Commands, Connection, RedisResult};

use crate::error::{Error, Result};
use crate::protocol::Heartbeat;

/// How long a call keeps reconnecting to a broker that went away, by default.
pub const RECONNECT_FOR: Duration = Duration::from_secs(5);
/// The first and the longest pause between two reconnection attempts.
const BACKOFF_FIRST: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(2);
/// Results streams outlive a controller that died by this much, then expire.
const RESULTS_TTL: Duration = Duration::from_secs(600);

/// A connection to the broker, with the key names of one cluster.
pub struct Broker {
    client: redis::Client,
    conn: Connection,
    url: String,
    prefix: String,
    timeout: Duration,
    reconnect_for: Duration,
    /// The server's `run_id` (INFO server): a new one means the broker was restarted.
    server_id: String,
    epoch: u64,
}

impl Broker {
    /// Connects; fails with a clear error when the broker is not there (the environment's
    /// fault) or its URL is not one (the user's).
    pub fn connect(url: &str, cluster: &str, timeout: Duration) -> Result<Self> {
        let client = redis::Client::open(url)
            .map_err(|e| Error::Input(format!("invalid broker URL `{url}`: {e}")))?;
        let (conn, server_id) = Self::open(&client, timeout).map_err(|e| {
            Error::Broker(format!(
                "cannot reach the broker at {url} (is redis-server running there?): {e}"
            ))
        })?;
        Ok(Broker {
            client,
            conn,
            url: url.to_string(),
            prefix: format!("bs:{cluster}"),
            timeout,
            reconnect_for: RECONNECT_FOR,
            server_id,
            epoch: 0,
        })
    }

    /// The same broker, whose calls keep reconnecting for `d` before they fail.
    pub fn reconnecting_for(mut self, d: Duration) -> Self {
        self.reconnect_for = d;
        self
    }

    /// How many times the broker was seen restarted (its data lost) since `connect`.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    fn open(client: &redis::Client, timeout: Duration) -> RedisResult<(Connection, String)> {
        let mut conn = client.get_connection_with_timeout(timeout)?;
        conn.set_read_timeout(Some(timeout + Duration::from_secs(2)))?;
        conn.set_write_timeout(Some(timeout))?;
        let info: String = redis::cmd("INFO").arg("server").query(&mut conn)?;
        let id = info
            .lines()
            .find_map(|l| l.strip_prefix("run_id:"))
            .unwrap_or_default()
            .trim()
            .to_string();
        Ok((conn, id))
    }

    /// Runs `f`, reconnecting with backoff on connection errors for up to `reconnect_for`.
    fn call<T>(&mut self, mut f: impl FnMut(&mut Connection) -> RedisResult<T>) -> Result<T> {
        let start = Instant::now();
        let mut pause = BACKOFF_FIRST;
        loop {
            match f(&mut self.conn) {
                Ok(v) => return Ok(v),
                Err(e) if e.is_io_error() || e.is_connection_dropped() || e.is_timeout() => {
                    if start.elapsed() >= self.reconnect_for {
                        return Err(Error::Broker(format!(
                            "broker at {} unreachable for {:.1} s: {e}",
                            self.url,
                            start.elapsed().as_secs_f64()
                        )));
                    }
                    std::thread::sleep(
                        pause.min(self.reconnect_for.saturating_sub(start.elapsed())),
                    );
                    pause = (pause * 2).min(BACKOFF_MAX);
                    if let Ok((conn, id)) = Self::open(&self.client, self.timeout) {
                        self.conn = conn;
                        if id != self.server_id {
                            self.server_id = id;
                            self.epoch += 1;
                        }
                    }
                }
                Err(e) => return Err(Error::Broker(format!("broker at {}: {e}", self.url))),
            }
        }
    }

    pub fn queue_key(&self, invoker: u32) -> String {
        format!("{}:q:{invoker}", self.prefix)
    }

    pub fn results_key(&self, run_id: &str) -> String {
        format!("{}:results:{run_id}", self.prefix)
    }

    pub fn heartbeat_key(&self, invoker: u32) -> String {
        format!("{}:hb:{invoker}", self.prefix)
    }

    /// The lease of run `run_id`: present while its controller runs.
    pub fn lease_key(&self, run_id: &str) -> String {
        format!("{}:lease:{run_id}", self.prefix)
    }

    /// Appends a message to a stream; returns its id.
    pub fn push(&mut self, key: &str, body: &str) -> Result<String> {
        self.call(|c| c.xadd(key, "*", &[("m", body)]))
    }

    /// Appends a result to run `run_id`'s results stream, which expires a while after the
    /// last result if no controller deletes it (its controller died).
    pub fn push_result(&mut self, run_id: &str, body: &str) -> Result<()> {
        let key = self.results_key(run_id);
        let ttl = RESULTS_TTL.as_millis() as i64;
        self.call(|c| {
            redis::pipe()
                .xadd(&key, "*", &[("m", body)])
                .ignore()
                .pexpire(&key, ttl)
                .ignore()
                .query::<()>(c)
        })
    }

    /// Sets (or renews) run `run_id`'s lease for `ttl`.
    pub fn renew_lease(&mut self, run_id: &str, ttl: Duration) -> Result<()> {
        let key = self.lease_key(run_id);
        let ms = ttl.as_millis().max(1) as u64;
        self.call(|c| c.pset_ex::<_, _, ()>(&key, std::process::id(), ms))
    }

    /// Which of `run_ids` hold a lease (their controller runs), in order.
    pub fn leases(&mut self, run_ids: &[String]) -> Result<Vec<bool>> {
        if run_ids.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<String> = run_ids.iter().map(|r| self.lease_key(r)).collect();
        let raw: Vec<Option<String>> = self.call(|c| redis::cmd("MGET").arg(&keys).query(c))?;
        Ok(raw.into_iter().map(|v| v.is_some()).collect())
    }

    /// Reads the messages after `last_id`, waiting up to `block` for the first; advances `last_id`.
    /// A message without a body is returned as `None` (the caller logs and skips it).
    pub fn read(
        &mut self,
        key: &str,
        last_id: &mut String,
        block: Duration,
        count: usize,
    ) -> Result<Vec<Option<String>>> {
        let opts = StreamReadOptions::default()
            .block(block.as_millis() as usize)
            .count(count);
        let from = last_id.clone();
        let reply: Option<StreamReadReply> =
            self.call(|c| c.xread_options(&[key], &[from.as_str()], &opts))?;
        let mut out = Vec::new();
        for k in reply.map(|r| r.keys).unwrap_or_default() {
            for id in k.ids {
                *last_id = id.id.clone();
                out.push(id.get::<String>("m"));
            }
        }
        Ok(out)
    }

    pub fn delete(&mut self, key: &str) -> Result<()> {
        self.call(|c| c.del::<_, ()>(key))
    }

    pub fn set_heartbeat(&mut self, hb: &Heartbeat, ttl: Duration) -> Result<()> {
        let key = self.heartbeat_key(hb.invoker);
        let body = serde_json::to_string(hb)?;
        let ms = ttl.as_millis().max(1) as u64;
        self.call(|c| c.pset_ex::<_, _, ()>(&key, &body, ms))
    }

    /// The heartbeats of invokers `0..n` (`None`: expired, or unreadable, which is logged).
    pub fn heartbeats(&mut self, n: u32) -> Result<Vec<Option<Heartbeat>>> {
        if n == 0 {
            return Ok(Vec::new());
        }
        let keys: Vec<String> = (0..n).map(|i| self.heartbeat_key(i)).collect();
        let raw: Vec<Option<String>> = self.call(|c| redis::cmd("MGET").arg(&keys).query(c))?;
        Ok(raw
            .into_iter()
            .map(|r| {
                r.and_then(
                    |s| match crate::protocol::parse::<Heartbeat>("heartbeat", &s) {
                        Ok(h) => Some(h),
                        Err(e) => {
                            eprintln!("controller: {e}");
                            None
                        }
                    },
                )
            })
            .collect())
    }

    /// Deletes every key starting with `prefix` (a run's messages); returns how many.
    pub fn delete_prefix(&mut self, prefix: &str) -> Result<u64> {
        self.call(|c| crate::comm::remote::delete_prefix(c, prefix))
    }

    /// The keys starting with `prefix` (what a run left in the broker).
    pub fn keys_with_prefix(&mut self, prefix: &str) -> Result<Vec<String>> {
        self.call(|c| crate::comm::remote::keys_with_prefix(c, prefix))
    }

    /// Round-trip time of one PING, seconds.
    pub fn ping(&mut self) -> Result<f64> {
        let t = Instant::now();
        self.call(|c| redis::cmd("PING").query::<String>(c))?;
        Ok(t.elapsed().as_secs_f64())
    }
}
