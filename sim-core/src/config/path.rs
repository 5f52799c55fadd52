//! Dotted field paths (`cluster.invokers[0].cpus`) into a TOML value: the one path reader of
//! `--set`, error diagnosis and `burstsim fit`.

use toml::{Table, Value};

/// One step of a dotted path: a key, then the array indices that follow it (`invokers[0]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step<'a> {
    /// Table key: ASCII letters, digits, `_` and `-`.
    pub key: &'a str,
    /// Array indices applied, in order, to the value at `key`.
    pub indices: Vec<usize>,
}

/// Parses `a.b[2].c` into steps; `None` when it is not such a path (an empty key, a key with
/// other characters, an index that is not a non-negative integer, unbalanced brackets). The
/// empty path is the root (no steps).
pub fn parse_path(path: &str) -> Option<Vec<Step<'_>>> {
    if path.is_empty() {
        return Some(Vec::new());
    }
    path.split('.').map(parse_step).collect()
}

fn parse_step(segment: &str) -> Option<Step<'_>> {
    let (key, mut rest) = segment.split_at(segment.find('[').unwrap_or(segment.len()));
    let key = key.trim();
    let valid_key = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !valid_key {
        return None;
    }
    let mut indices = Vec::new();
    while !rest.is_empty() {
        let inner = rest.strip_prefix('[')?;
        let close = inner.find(']')?;
        indices.push(inner[..close].trim().parse().ok()?);
        rest = &inner[close + 1..];
    }
    Some(Step { key, indices })
}

/// The value at a dotted path (`a.b.c`, `a.b[2].c`; empty = `root`), or `None` when the path
/// is malformed or leads nowhere.
pub fn value_at<'a>(root: &'a Value, path: &str) -> Option<&'a Value> {
    let mut v = root;
    for step in parse_path(path)? {
        v = v.get(step.key)?;
        for i in step.indices {
            v = v.get(i)?;
        }
    }
    Some(v)
}

/// Puts `new` at the path `steps` of `root` (no steps: replaces `root`). Missing tables on the
/// way are created; arrays are not: an index must name an existing entry. The error says what
/// blocked the way.
pub(crate) fn set_at(root: &mut Value, steps: &[Step], new: Value) -> Result<(), String> {
    let Some(last) = steps.len().checked_sub(1) else {
        *root = new;
        return Ok(());
    };
    let mut current = root;
    let mut walked = String::new();
    for (n, step) in steps.iter().enumerate() {
        let Value::Table(table) = current else {
            return Err(format!("`{walked}` is not a table"));
        };
        if !walked.is_empty() {
            walked.push('.');
        }
        walked.push_str(step.key);
        if step.indices.is_empty() {
            if n == last {
                table.insert(step.key.to_string(), new);
                return Ok(());
            }
            current = table
                .entry(step.key)
                .or_insert_with(|| Value::Table(Table::new()));
            continue;
        }
        let Some(mut slot) = table.get_mut(step.key) else {
            return Err(format!("`{walked}` is not set, so it cannot be indexed"));
        };
        for &index in &step.indices {
            let Value::Array(items) = slot else {
                return Err(format!("`{walked}` is not an array"));
            };
            let len = items.len();
            let Some(item) = items.get_mut(index) else {
                return Err(format!(
                    "index {index} is out of range: `{walked}` has {len} entries"
                ));
            };
            walked.push_str(&format!("[{index}]"));
            slot = item;
        }
        if n == last {
            *slot = new;
            return Ok(());
        }
        current = slot;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_parse_strictly() {
        let steps = parse_path("cluster.invokers[0][2].cpus").unwrap();
        assert_eq!(steps.len(), 3);
        assert_eq!(steps[1].key, "invokers");
        assert_eq!(steps[1].indices, vec![0, 2]);
        assert_eq!(parse_path(""), Some(Vec::new()));
        for bad in [
            "a[x]", "a[1", "a]", "a.", ".a", "a..b", "a b", "[0]", "a[0]x", "a[-1]",
        ] {
            assert_eq!(parse_path(bad), None, "{bad}");
        }
    }

    #[test]
    fn value_at_reads_tables_and_arrays() {
        let v: Value = toml::from_str("a = { b = [1, { c = 2 }] }").unwrap();
        assert_eq!(value_at(&v, "a.b[1].c"), Some(&Value::Integer(2)));
        assert_eq!(value_at(&v, "a.b[0]"), Some(&Value::Integer(1)));
        assert_eq!(value_at(&v, ""), Some(&v));
        assert_eq!(value_at(&v, "a.b[2]"), None);
        // A malformed index is no path at all, not the array itself.
        assert_eq!(value_at(&v, "a.b[x]"), None);
    }
}
