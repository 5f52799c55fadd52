//! Messages between packs on the broker: chunk frames and the keys they live under.
//!
//! A frame is a 32-byte header (magic, kind, transfer, chunk index, payload length, CRC-32 of
//! the payload) followed by the payload. `Data` frames carry a chunk; `Pointer` frames (Redis
//! lists only) say that the chunk of a broadcast was stored once under its shared key; `Abort`
//! frames carry the reason a worker of the burst failed.
//!
//! Keys are namespaced by cluster, run and burst, so concurrent runs never mix and the whole
//! run is found (and deleted) by one pattern:
//!
//! | key | what |
//! | --- | --- |
//! | `bs:<cluster>:m:<run>:b<burst>:<step>:<t>` | chunks of transfer t of executed step `step` (a list, or a stream) |
//! | `bs:<cluster>:m:<run>:b<burst>:<step>:<t>:c<i>` | lists: chunk i of broadcast upload t, stored once (`SET`) |
//! | `bs:<cluster>:m:<run>:b<burst>:ctl:<w>` | abort notices for worker w |

use super::content::checksum;

const MAGIC: u32 = 0x4253_4331; // "BSC1"
/// Bytes of a frame header.
pub const HEADER: usize = 32;

/// What a frame carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameKind {
    /// A chunk of a transfer.
    Data,
    /// Lists: the chunk is stored under its shared key (a broadcast uploaded once).
    Pointer,
    /// A worker of the burst failed; the payload is the reason (UTF-8).
    Abort,
}

impl FrameKind {
    fn code(self) -> u8 {
        match self {
            FrameKind::Data => 1,
            FrameKind::Pointer => 2,
            FrameKind::Abort => 3,
        }
    }

    fn from_code(c: u8) -> Option<Self> {
        Some(match c {
            1 => FrameKind::Data,
            2 => FrameKind::Pointer,
            3 => FrameKind::Abort,
            _ => return None,
        })
    }
}

/// A decoded frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame {
    pub kind: FrameKind,
    /// Transfer index in the step's message plan.
    pub transfer: u32,
    /// Chunk index within the transfer.
    pub chunk: u32,
    /// Payload bytes (for a pointer: of the chunk it points to).
    pub len: u64,
    /// CRC-32 of the payload as the sender computed it.
    pub crc: u32,
}

/// Encodes a frame: the header for `data` (whose CRC it carries) then `data` itself, unless
/// `with_payload` is false (a pointer describes a chunk stored elsewhere).
pub fn encode(
    kind: FrameKind,
    transfer: u32,
    chunk: u32,
    data: &[u8],
    with_payload: bool,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER + if with_payload { data.len() } else { 0 });
    out.extend_from_slice(&MAGIC.to_le_bytes());
    out.push(kind.code());
    out.extend_from_slice(&[0, 0, 0]);
    out.extend_from_slice(&transfer.to_le_bytes());
    out.extend_from_slice(&chunk.to_le_bytes());
    out.extend_from_slice(&(data.len() as u64).to_le_bytes());
    out.extend_from_slice(&checksum(data).to_le_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]);
    if with_payload {
        out.extend_from_slice(data);
    }
    out
}

/// Decodes a frame's header and returns it with the payload that follows (empty for a pointer).
pub fn decode(raw: &[u8]) -> Result<(Frame, &[u8]), String> {
    if raw.len() < HEADER {
        return Err(format!(
            "a frame of {} bytes (shorter than its header)",
            raw.len()
        ));
    }
    let u32_at = |i: usize| u32::from_le_bytes(raw[i..i + 4].try_into().expect("4 bytes"));
    if u32_at(0) != MAGIC {
        return Err("a frame without the burstsim magic".into());
    }
    let kind = FrameKind::from_code(raw[4]).ok_or_else(|| format!("a frame of kind {}", raw[4]))?;
    let frame = Frame {
        kind,
        transfer: u32_at(8),
        chunk: u32_at(12),
        len: u64::from_le_bytes(raw[16..24].try_into().expect("8 bytes")),
        crc: u32_at(24),
    };
    Ok((frame, &raw[HEADER..]))
}

impl Frame {
    /// Checks that `payload` is the chunk the header describes: its length and its CRC.
    pub fn verify(&self, payload: &[u8]) -> Result<(), String> {
        if payload.len() as u64 != self.len {
            return Err(format!(
                "chunk {} of transfer {}: {} bytes arrived, the header says {}",
                self.chunk,
                self.transfer,
                payload.len(),
                self.len
            ));
        }
        let crc = checksum(payload);
        if crc != self.crc {
            return Err(format!(
                "checksum mismatch in chunk {} of transfer {}: CRC-32 {crc:#010x} received, \
                 {:#010x} sent",
                self.chunk, self.transfer, self.crc
            ));
        }
        Ok(())
    }
}

/// The broker keys of one burst of one run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keys {
    prefix: String,
}

impl Keys {
    /// Keys of burst `burst` of run `run` on cluster `cluster`.
    pub fn new(cluster: &str, run: &str, burst: u64) -> Self {
        Keys {
            prefix: format!("{}b{burst}", run_prefix(cluster, run)),
        }
    }

    /// From a prefix as `prefix()` returns it (what travels in a container payload).
    pub fn from_prefix(prefix: &str) -> Self {
        Keys {
            prefix: prefix.to_string(),
        }
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Where the chunks of transfer `t` of executed step `step` go.
    pub fn transfer(&self, step: u32, t: u32) -> String {
        format!("{}:{step}:{t}", self.prefix)
    }

    /// Lists: where chunk `chunk` of broadcast upload `t` is stored once.
    pub fn shared_chunk(&self, step: u32, t: u32, chunk: u32) -> String {
        format!("{}:{step}:{t}:c{chunk}", self.prefix)
    }

    /// Abort notices for worker `w`.
    pub fn control(&self, w: u32) -> String {
        format!("{}:ctl:{w}", self.prefix)
    }
}

/// The common prefix of every message key of run `run` (delete `<prefix>*` to clean it up).
pub fn run_prefix(cluster: &str, run: &str) -> String {
    format!("bs:{cluster}:m:{run}:")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_catch_corruption() {
        let data: Vec<u8> = (0..1000u32).map(|i| (i * 7) as u8).collect();
        let mut raw = encode(FrameKind::Data, 5, 2, &data, true);
        let (f, payload) = decode(&raw).unwrap();
        assert_eq!(
            (f.kind, f.transfer, f.chunk, f.len),
            (FrameKind::Data, 5, 2, 1000)
        );
        f.verify(payload).unwrap();
        raw[HEADER + 10] ^= 1;
        let (f, payload) = decode(&raw).unwrap();
        let e = f.verify(payload).unwrap_err();
        assert!(
            e.contains("checksum mismatch in chunk 2 of transfer 5"),
            "{e}"
        );
        let (f, payload) = decode(&raw[..raw.len() - 1]).unwrap();
        assert!(f.verify(payload).unwrap_err().contains("999 bytes arrived"));
        assert!(decode(&raw[..10]).is_err());
        assert!(decode(&[0u8; 40]).unwrap_err().contains("magic"));
        let p = encode(FrameKind::Pointer, 1, 0, &data, false);
        assert_eq!(p.len(), HEADER);
        let (f, rest) = decode(&p).unwrap();
        assert!(rest.is_empty() && f.len == 1000 && f.kind == FrameKind::Pointer);
    }

    #[test]
    fn keys_are_namespaced_by_run_and_burst() {
        let k = Keys::new("local", "r1", 3);
        assert_eq!(k.transfer(4, 17), "bs:local:m:r1:b3:4:17");
        assert!(k
            .shared_chunk(4, 17, 2)
            .starts_with(&run_prefix("local", "r1")));
        assert_ne!(
            Keys::new("local", "r2", 3).transfer(4, 17),
            k.transfer(4, 17)
        );
        assert_ne!(Keys::new("local", "r1", 31).control(0), k.control(0));
        assert_eq!(Keys::from_prefix(k.prefix()), k);
    }
}
