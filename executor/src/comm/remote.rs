//! The broker side of live messages between packs: the cluster's Redis, used as the
//! middleware uses it, with lists (`RPUSH` by the sender, `BLPOP` by the receiver, one list per
//! transfer) or streams (`XADD`, `XREAD BLOCK`). A broadcast is uploaded once: lists `SET` each
//! chunk under a shared key and push a small pointer frame to every receiving leader; streams
//! `XADD` it to one stream that every leader reads. Every key gets a TTL, so a run that dies
//! leaves nothing for long even before its controller deletes the run's keys.
//!
//! Each worker holds two connections, one per direction (the model's one upload and one
//! download connection per worker), and makes one request per chunk each way.

use std::collections::HashMap;
use std::time::Duration;

use redis::streams::{StreamReadOptions, StreamReadReply};
use redis::{Commands, Connection, Value};
use serde::{Deserialize, Serialize};

/// How chunks travel through Redis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LiveBackend {
    /// One list per transfer: `RPUSH` / `BLPOP` (the middleware's `redis-list`).
    List,
    /// One stream per transfer: `XADD` / `XREAD BLOCK` (the middleware's `redis-stream`).
    Stream,
}

impl LiveBackend {
    /// The live protocol of a simulator backend profile, by its `name`: one ending in `list`
    /// (redis-list, dragonfly-list, local-redis-list) uses lists, one ending in `stream` uses
    /// streams; others (s3, rabbitmq, tcp-relay) cannot run on the cluster's Redis broker.
    pub fn for_profile(name: &str) -> Option<Self> {
        if name.ends_with("list") {
            Some(LiveBackend::List)
        } else if name.ends_with("stream") {
            Some(LiveBackend::Stream)
        } else {
            None
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            LiveBackend::List => "list",
            LiveBackend::Stream => "stream",
        }
    }
}

/// Opens a connection to the broker at `url`.
pub fn connect(url: &str, timeout: Duration) -> Result<Connection, String> {
    let client =
        redis::Client::open(url).map_err(|e| format!("invalid broker URL `{url}`: {e}"))?;
    let conn = client
        .get_connection_with_timeout(timeout)
        .map_err(|e| format!("cannot reach the broker at {url}: {e}"))?;
    conn.set_write_timeout(Some(timeout.max(Duration::from_secs(30))))
        .map_err(|e| format!("broker at {url}: {e}"))?;
    Ok(conn)
}

fn broker(e: redis::RedisError) -> String {
    format!("broker: {e}")
}

/// A worker's sending connection.
pub struct Uploader {
    conn: Connection,
    backend: LiveBackend,
    /// Seconds every key lives at most.
    ttl_s: i64,
}

impl Uploader {
    pub fn new(conn: Connection, backend: LiveBackend, ttl_s: u64) -> Self {
        Uploader {
            conn,
            backend,
            ttl_s: ttl_s.max(1) as i64,
        }
    }

    /// Sends one frame to `key` (a transfer's list or stream): one request.
    pub fn push(&mut self, key: &str, frame: &[u8]) -> Result<(), String> {
        let mut p = redis::pipe();
        match self.backend {
            LiveBackend::List => p.rpush(key, frame).ignore(),
            LiveBackend::Stream => p.xadd(key, "*", &[("f", frame)]).ignore(),
        };
        p.expire(key, self.ttl_s).ignore();
        p.query::<()>(&mut self.conn).map_err(broker)
    }

    /// Uploads one chunk of a broadcast once, for `receivers` (the transfers' keys). Lists:
    /// the frame is `SET` under `shared_key` and `pointer` is pushed to each receiver's list;
    /// streams: the frame is added to `receivers[0]`, the stream every receiver reads.
    pub fn push_shared(
        &mut self,
        shared_key: &str,
        frame: &[u8],
        pointer: &[u8],
        receivers: &[String],
    ) -> Result<(), String> {
        match self.backend {
            LiveBackend::Stream => self.push(&receivers[0], frame),
            LiveBackend::List => {
                let mut p = redis::pipe();
                p.set_ex(shared_key, frame, self.ttl_s as u64).ignore();
                for key in receivers {
                    p.rpush(key, pointer).ignore();
                    p.expire(key, self.ttl_s).ignore();
                }
                p.query::<()>(&mut self.conn).map_err(broker)
            }
        }
    }

    /// Pushes `frame` (an abort notice) to every key of `keys` in one round trip.
    pub fn push_all(&mut self, keys: &[String], frame: &[u8]) -> Result<(), String> {
        let mut p = redis::pipe();
        for key in keys {
            match self.backend {
                LiveBackend::List => p.rpush(key, frame).ignore(),
                LiveBackend::Stream => p.xadd(key, "*", &[("f", frame)]).ignore(),
            };
            p.expire(key, self.ttl_s).ignore();
        }
        p.query::<()>(&mut self.conn).map_err(broker)
    }
}

/// A worker's receiving connection.
pub struct Downloader {
    conn: Connection,
    backend: LiveBackend,
    /// Streams: the last entry read from each stream.
    last: HashMap<String, String>,
}

impl Downloader {
    pub fn new(conn: Connection, backend: LiveBackend) -> Self {
        Downloader {
            conn,
            backend,
            last: HashMap::new(),
        }
    }

    /// The next frames of `keys`, waiting up to `block` for one (empty: none came). Lists pop
    /// one frame (the first non-empty list in `keys`' order); streams read at most one new
    /// entry of each stream. One request either way.
    pub fn wait(
        &mut self,
        keys: &[String],
        block: Duration,
    ) -> Result<Vec<(String, Vec<u8>)>, String> {
        if keys.is_empty() {
            std::thread::sleep(block);
            return Ok(Vec::new());
        }
        self.conn
            .set_read_timeout(Some(block + Duration::from_secs(10)))
            .map_err(broker)?;
        match self.backend {
            LiveBackend::List => {
                let got: Option<(String, Vec<u8>)> = redis::cmd("BLPOP")
                    .arg(keys)
                    .arg(block.as_secs_f64().max(0.01))
                    .query(&mut self.conn)
                    .map_err(broker)?;
                Ok(got.into_iter().collect())
            }
            LiveBackend::Stream => self.read_streams(keys, block),
        }
    }

    fn read_streams(
        &mut self,
        keys: &[String],
        block: Duration,
    ) -> Result<Vec<(String, Vec<u8>)>, String> {
        let ids: Vec<String> = keys
            .iter()
            .map(|k| self.last.get(k).cloned().unwrap_or_else(|| "0".into()))
            .collect();
        let opts = StreamReadOptions::default()
            .block(block.as_millis().max(1) as usize)
            .count(1);
        let reply: Option<StreamReadReply> =
            self.conn.xread_options(keys, &ids, &opts).map_err(broker)?;
        let mut out = Vec::new();
        for k in reply.map(|r| r.keys).unwrap_or_default() {
            for mut entry in k.ids {
                self.last.insert(k.key.clone(), entry.id.clone());
                match entry.map.remove("f") {
                    Some(Value::BulkString(bytes)) => out.push((k.key.clone(), bytes)),
                    other => {
                        return Err(format!(
                            "broker: stream {} entry {} has no frame (got {other:?})",
                            k.key, entry.id
                        ))
                    }
                }
            }
        }
        Ok(out)
    }

    /// Lists: the chunk a pointer frame names (one request).
    pub fn get(&mut self, key: &str) -> Result<Vec<u8>, String> {
        let v: Option<Vec<u8>> = self.conn.get(key).map_err(broker)?;
        v.ok_or_else(|| format!("broker: the shared chunk {key} is gone (expired?)"))
    }

    /// Done with `key`: streams forget its position and, when this worker was its only reader
    /// (`sole_reader`), delete it (lists empty themselves as they are popped).
    pub fn done_with(&mut self, key: &str, sole_reader: bool) -> Result<(), String> {
        if self.backend == LiveBackend::Stream {
            self.last.remove(key);
            if sole_reader {
                self.conn.del::<_, ()>(key).map_err(broker)?;
            }
        }
        Ok(())
    }
}

/// Deletes every key that starts with `prefix` (a run's or a burst's messages); returns how
/// many there were. Keys are found with `SCAN`, so a busy broker is never blocked.
pub fn delete_prefix(conn: &mut Connection, prefix: &str) -> redis::RedisResult<u64> {
    let mut deleted = 0u64;
    scan_prefix(conn, prefix, |conn, keys| {
        deleted += redis::cmd("UNLINK").arg(&keys).query::<u64>(conn)?;
        Ok(())
    })?;
    Ok(deleted)
}

/// Keys matching `prefix*` that exist now (for leftover checks).
pub fn keys_with_prefix(conn: &mut Connection, prefix: &str) -> redis::RedisResult<Vec<String>> {
    let mut found = Vec::new();
    scan_prefix(conn, prefix, |_, keys| {
        found.extend(keys);
        Ok(())
    })?;
    Ok(found)
}

/// Calls `each` with every non-empty batch of keys matching `prefix*` (`SCAN`, 1,000 a call).
fn scan_prefix(
    conn: &mut Connection,
    prefix: &str,
    mut each: impl FnMut(&mut Connection, Vec<String>) -> redis::RedisResult<()>,
) -> redis::RedisResult<()> {
    let pattern = format!("{}*", escape_glob(prefix));
    let mut cursor = 0u64;
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(&pattern)
            .arg("COUNT")
            .arg(1000)
            .query(conn)?;
        if !keys.is_empty() {
            each(conn, keys)?;
        }
        if next == 0 {
            return Ok(());
        }
        cursor = next;
    }
}

/// `s` with Redis glob characters escaped.
fn escape_glob(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\' | '^') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_map_to_live_protocols() {
        assert_eq!(
            LiveBackend::for_profile("redis-list"),
            Some(LiveBackend::List)
        );
        assert_eq!(
            LiveBackend::for_profile("local-redis-stream"),
            Some(LiveBackend::Stream)
        );
        assert_eq!(LiveBackend::for_profile("s3"), None);
        assert_eq!(LiveBackend::for_profile("tcp-relay"), None);
    }

    #[test]
    fn glob_characters_are_escaped() {
        assert_eq!(escape_glob("bs:a-1:m:r1:"), "bs:a-1:m:r1:");
        assert_eq!(escape_glob("a*b?[c]"), "a\\*b\\?\\[c\\]");
    }
}
