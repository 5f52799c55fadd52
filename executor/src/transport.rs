//! The broker hop between controller and agents: Redis Streams for each invoker's queue and for
//! each run's results, expiring keys for heartbeats. Every call has a timeout; a dropped
//! connection is re-opened for a few seconds before the call fails.

use std::time::{Duration, Instant};

use redis::streams::{StreamReadOptions, StreamReadReply};
use redis::{Commands, Connection, RedisResult};

use crate::error::{Error, Result};
use crate::protocol::Heartbeat;

/// How long a call keeps reconnecting to a broker that went away.
const RECONNECT_FOR: Duration = Duration::from_secs(5);

/// A connection to the broker, with the key names of one cluster.
pub struct Broker {
    client: redis::Client,
    conn: Connection,
    url: String,
    prefix: String,
    timeout: Duration,
}

impl Broker {
    /// Connects; fails with a clear error when the broker is not there (the environment's
    /// fault) or its URL is not one (the user's).
    pub fn connect(url: &str, cluster: &str, timeout: Duration) -> Result<Self> {
        let client = redis::Client::open(url)
            .map_err(|e| Error::Input(format!("invalid broker URL `{url}`: {e}")))?;
        let conn = Self::open(&client, timeout).map_err(|e| {
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
        })
    }

    fn open(client: &redis::Client, timeout: Duration) -> RedisResult<Connection> {
        let mut conn = client.get_connection_with_timeout(timeout)?;
        conn.set_read_timeout(Some(timeout + Duration::from_secs(2)))?;
        conn.set_write_timeout(Some(timeout))?;
        redis::cmd("PING").query::<String>(&mut conn)?;
        Ok(conn)
    }

    /// Runs `f`, reconnecting on connection errors for up to `RECONNECT_FOR`.
    fn call<T>(&mut self, mut f: impl FnMut(&mut Connection) -> RedisResult<T>) -> Result<T> {
        let deadline = Instant::now() + RECONNECT_FOR;
        loop {
            match f(&mut self.conn) {
                Ok(v) => return Ok(v),
                Err(e) if e.is_io_error() || e.is_connection_dropped() || e.is_timeout() => {
                    if Instant::now() >= deadline {
                        return Err(Error::Broker(format!(
                            "broker at {} unreachable: {e}",
                            self.url
                        )));
                    }
                    std::thread::sleep(Duration::from_millis(200));
                    if let Ok(c) = Self::open(&self.client, self.timeout) {
                        self.conn = c;
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

    /// Appends a message to a stream; returns its id.
    pub fn push(&mut self, key: &str, body: &str) -> Result<String> {
        self.call(|c| c.xadd(key, "*", &[("m", body)]))
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
